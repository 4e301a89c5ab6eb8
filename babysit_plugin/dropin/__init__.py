"""What goes into a user's repository: the installer, the hook, the demo."""

"""The run loop: dispatching effects, running children, claims and outcomes, retries."""

"""Process image: latest value, timestamp and quality of every device point."""

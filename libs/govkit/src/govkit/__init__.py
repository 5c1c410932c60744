"""govplat package."""

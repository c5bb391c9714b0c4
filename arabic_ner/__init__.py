"""Fine-tune Arabic transformer encoders on custom named-entity tag sets."""

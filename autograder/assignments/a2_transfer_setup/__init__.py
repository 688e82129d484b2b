"""Assignment a2_transfer_setup: new heads, feature extractors, optimizers, layer-wise rates."""

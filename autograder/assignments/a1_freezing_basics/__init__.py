"""Assignment a1_freezing_basics: freeze, unfreeze, count, freeze by name."""

"""Training and shipping a child net: the recipe, retraining, loading any checkpoint, testing and export."""

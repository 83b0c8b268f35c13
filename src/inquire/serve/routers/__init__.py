"""The app's routes, one module per concern: pages, search, images, labels, export."""

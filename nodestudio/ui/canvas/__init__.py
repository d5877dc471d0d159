"""The node canvas: a QGraphicsScene that observes the graph model, and its view."""

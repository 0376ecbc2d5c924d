"""See DESIGN.md for this layer's job."""

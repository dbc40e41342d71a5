// Placeholder so that a module library with no sources yet still configures.

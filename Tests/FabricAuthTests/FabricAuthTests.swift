// FabricAuthTests: under construction.

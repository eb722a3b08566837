// VerbsTests: under construction.

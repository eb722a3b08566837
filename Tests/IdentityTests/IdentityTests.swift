// IdentityTests: under construction.

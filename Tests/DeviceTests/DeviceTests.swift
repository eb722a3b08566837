// DeviceTests: under construction.

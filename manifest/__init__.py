"""The Teams app package: manifest template, icons, build and validation."""

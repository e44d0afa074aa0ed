"""The protocol contract as data; this file only makes the folder importable as a package."""

"""Compatibility facades that let files written for other tools register into swift-kernel."""

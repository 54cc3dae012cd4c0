"""swift-plugin-template: the skeleton every plugin of this repo starts from."""

"""What every family module shares."""

#: the template class of the families whose processor expands the media placeholders
TEMPLATE_CLS = "swiftk_multimodal.template:ProcessorTemplate"

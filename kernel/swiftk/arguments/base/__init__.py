"""The seed page's "基本参数": the top-level basic group and the model, data, template,
generation and quantization groups that every model-loading command inherits."""

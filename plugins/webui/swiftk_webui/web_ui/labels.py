"""Every text of the web-ui page in Chinese and English (`--lang zh|en`); a test checks both have the same keys."""

from __future__ import annotations

LABELS_ZH: dict[str, str] = {
    "title": "swift-kernel 训练与部署",
    "intro": "每个命令一个页签：表单由参数定义生成，🔥 参数在前，其余按组折叠。只有改动过默认值的参数会出现在命令行中。",
    "tab_sft": "训练 (sft/pt)",
    "tab_rlhf": "人类对齐 (rlhf)",
    "tab_infer": "推理 (infer)",
    "tab_deploy": "部署 (deploy)",
    "tab_eval": "评测 (eval)",
    "tab_export": "导出 (export)",
    "tab_sample": "采样 (sample)",
    "train_stage": "训练类型",
    "hot": "🔥 关键参数",
    "launch": "启动",
    "preview": "预览命令行",
    "command_line": "命令行",
    "runs": "运行记录",
    "run": "选择运行",
    "refresh": "刷新",
    "stop": "停止 (SIGINT)",
    "resume": "从最后的检查点继续训练",
    "status": "状态",
    "log": "日志 (末尾)",
    "loss": "loss 曲线",
    "learning_rate": "学习率曲线",
    "checkpoint": "最后的检查点",
    "chat_section": "用检查点对话 / 部署 / 合并导出",
    "chat_start": "对话 (启动 swiftk deploy)",
    "export": "合并导出 (swiftk export --merge_lora true)",
    "chat": "对话",
    "message": "输入消息",
    "send": "发送",
    "no_run": "尚未选择运行",
    "running": "运行中",
    "finished": "已完成",
    "stopped": "已停止",
    "failed": "失败",
    "exit_unknown": "退出状态未知",
    "exit_status": "退出状态",
    "not_running": "该运行已结束",
    "stop_sent": "已发送 SIGINT",
    "chat_not_ready": "对话服务尚未就绪，请稍后再试",
    "messages": "消息",
    "chat_url": "对话服务地址",
    "launched": "已启动运行",
}

LABELS_EN: dict[str, str] = {
    "title": "swift-kernel: train and deploy",
    "intro": "One tab per command: the forms are built from the argument definitions, 🔥 arguments first, the "
    "rest folded by group. Only arguments changed from their default go on the command line.",
    "tab_sft": "Train (sft/pt)",
    "tab_rlhf": "RLHF (rlhf)",
    "tab_infer": "Inference (infer)",
    "tab_deploy": "Deploy (deploy)",
    "tab_eval": "Evaluate (eval)",
    "tab_export": "Export (export)",
    "tab_sample": "Sample (sample)",
    "train_stage": "Training kind",
    "hot": "🔥 Key arguments",
    "launch": "Launch",
    "preview": "Preview the command line",
    "command_line": "Command line",
    "runs": "Runs",
    "run": "Run",
    "refresh": "Refresh",
    "stop": "Stop (SIGINT)",
    "resume": "Resume from the last checkpoint",
    "status": "Status",
    "log": "Log (tail)",
    "loss": "Loss",
    "learning_rate": "Learning rate",
    "checkpoint": "Last checkpoint",
    "chat_section": "Chat with the checkpoint / deploy / merge and export",
    "chat_start": "Chat (starts swiftk deploy)",
    "export": "Merge and export (swiftk export --merge_lora true)",
    "chat": "Chat",
    "message": "Message",
    "send": "Send",
    "no_run": "no run selected",
    "running": "running",
    "finished": "finished",
    "stopped": "stopped",
    "failed": "failed",
    "exit_unknown": "exit status unknown",
    "exit_status": "exit status",
    "not_running": "this run has ended",
    "stop_sent": "SIGINT sent",
    "chat_not_ready": "the chat server is not ready yet; try again in a moment",
    "messages": "Messages",
    "chat_url": "Chat server URL",
    "launched": "started run",
}

LABELS = {"zh": LABELS_ZH, "en": LABELS_EN}


def labels(lang: str) -> dict[str, str]:
    """The texts of one language ('zh' or 'en')."""
    if lang not in LABELS:
        from swiftk.api import UsageError

        raise UsageError(f"--lang: '{lang}' is not valid; choose from zh, en")
    return LABELS[lang]

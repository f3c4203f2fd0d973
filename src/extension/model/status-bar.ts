/** The model's status bar item: what is in use, and whether it is loading, ready or failed; a click opens the picker. */
import * as vscode from "vscode";
import type { ModelStatus } from "../../core/webview-protocol.js";

export class ModelStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(pickCommand: string) {
    this.item = vscode.window.createStatusBarItem("clarifycoder.model", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "ClarifyCoder model";
    this.item.command = pickCommand;
  }

  show(status: ModelStatus): void {
    const item = this.item;
    const label = status.label ?? "no model";
    // Where it runs, with its name: "Qwen2.5-Coder 0.5B Instruct on this machine", "qwen2.5-coder:1.5b served at 127.0.0.1:11434".
    const placed = status.where ? `${label} ${status.where}` : label;
    const served = status.where?.startsWith("served") === true;
    switch (status.status) {
      case "none":
        item.text = status.label ? `$(circle-outline) ${placed}` : "$(circle-slash) ClarifyCoder: no model";
        item.tooltip = served
          ? `ClarifyCoder: ${placed}, reached with the first request. Click to choose another model.`
          : status.demo
            ? "ClarifyCoder: a small demo model, downloaded and loaded with the first request. Click to choose a real one."
            : status.label
              ? "ClarifyCoder: the model loads with the first request. Click to choose another."
              : "ClarifyCoder: choose a model";
        item.backgroundColor = undefined;
        break;
      case "loading": {
        const percent = status.progress !== undefined ? ` ${Math.round(status.progress * 100)}%` : "";
        const phase = status.detail && status.progress === undefined ? `: ${status.detail}` : "";
        item.text = status.downloading ? `$(cloud-download) Downloading ${label}…${percent}` : `$(loading~spin) ${label}${phase}${percent}`;
        item.tooltip = `ClarifyCoder: ${status.detail ?? (status.downloading ? "downloading the model (once)" : "loading the model")}`;
        item.backgroundColor = undefined;
        break;
      }
      case "ready":
        item.text = served ? `$(cloud) ${placed}` : `$(check) ${placed} · ${status.backend ?? "CPU"}`;
        item.tooltip = served
          ? `ClarifyCoder: ${placed}. Your requests and code go to that server. Click to choose another model.`
          : `ClarifyCoder: ${label} is ready ${status.where ?? "on this machine"}, on ${status.backend ?? "CPU"}. Click to choose another model.`;
        item.backgroundColor = undefined;
        break;
      case "error":
        item.text = `$(error) ${placed}`;
        item.tooltip = `ClarifyCoder: ${status.error ?? "the model failed"}`;
        item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
    }
    item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}

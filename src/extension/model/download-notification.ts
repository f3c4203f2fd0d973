/** A cancellable notification with a model download's bytes, speed and time left. */
import * as vscode from "vscode";
import { describePullProgress, type PullProgress } from "../../llm/hub/library.js";

/** How far the whole pull is, from 0 to 1 (each file of it is one step). */
export function pullFraction(p: PullProgress): number {
  return (p.step - 1 + (p.total > 0 ? p.loaded / p.total : 0)) / p.steps;
}

export class DownloadNotification {
  private progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  private shown = 0;
  private finish!: () => void;

  constructor(label: string, cancel: AbortController) {
    const finished = new Promise<void>((resolve) => (this.finish = resolve));
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ClarifyCoder: downloading ${label}`, cancellable: true },
      (progress, token) => {
        this.progress = progress;
        token.onCancellationRequested(() => cancel.abort());
        return finished;
      },
    );
  }

  report(p: PullProgress): void {
    const percent = pullFraction(p) * 100;
    const increment = Math.max(0, percent - this.shown);
    this.shown += increment;
    this.progress?.report({ increment, message: describePullProgress(p) });
  }

  done(): void {
    this.finish();
  }
}

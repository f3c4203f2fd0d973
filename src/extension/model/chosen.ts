/** Which model is in use: the setting as the user wrote it, else the catalog's default model; and its name. */
import { catalogEntry, catalogIdOf, catalogScheme, defaultModelId, type CatalogEntry } from "../../llm/hub/catalog.js";
import { servedAt } from "../../llm/models/served.js";
import { getConfig, Settings } from "../config.js";
import { servedSpecOf } from "./served-choice.js";

/** The model setting as the user wrote it (empty: nothing chosen, the catalog's default model is used). */
export function explicitModel(): string | undefined {
  const value = getConfig(Settings.model);
  return value === "" ? undefined : value;
}

/** The model in use: the setting (a catalog model, a .gguf path, an hf: URI or a served model's address), else the catalog's default model (Qwen2.5-Coder 0.5B). */
export function configuredModel(): string {
  return explicitModel() ?? `${catalogScheme}${defaultModelId}`;
}

/** The catalog entry of the model in use, if it is one. */
export function configuredEntry(): CatalogEntry | undefined {
  const id = catalogIdOf(configuredModel());
  return id === undefined ? undefined : catalogEntry(id);
}

export function modelLabel(model: string): string {
  const served = servedSpecOf(model);
  if (served) return served.model ?? "the served model";
  const id = catalogIdOf(model);
  if (id !== undefined) return catalogEntry(id)?.name ?? id;
  if (model.startsWith("hf:")) return model.split("/").pop() ?? model;
  return model.split(/[\\/]/).pop() ?? model;
}

/** Where a model runs, in words: "on this machine", or "served at 127.0.0.1:11434". */
export function whereOf(model: string): string {
  const served = servedSpecOf(model);
  return served ? servedAt(served.baseUrl) : "on this machine";
}

/** The status's label of the model in use, where it runs, and whether it is a demo model. */
export function labelPart(): { label: string; where: string; demo?: boolean } {
  const model = configuredModel();
  return { label: modelLabel(model), where: whereOf(model), ...(configuredEntry()?.demo ? { demo: true } : {}) };
}

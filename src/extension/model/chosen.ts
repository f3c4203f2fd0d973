/** Which model is in use: the setting as the user wrote it, else the catalog's default model; and its name. */
import { catalogEntry, catalogIdOf, catalogScheme, defaultModelId, type CatalogEntry } from "../../llm/hub/catalog.js";
import { getConfig, Settings } from "../config.js";

/** The model setting as the user wrote it (empty: nothing chosen, the catalog's default model is used). */
export function explicitModel(): string | undefined {
  const value = getConfig(Settings.model);
  return value === "" ? undefined : value;
}

/** The model in use: the setting (a catalog model, a .gguf path or an hf: URI), else the catalog's default model (Qwen2.5-Coder 0.5B). */
export function configuredModel(): string {
  return explicitModel() ?? `${catalogScheme}${defaultModelId}`;
}

/** The catalog entry of the model in use, if it is one. */
export function configuredEntry(): CatalogEntry | undefined {
  const id = catalogIdOf(configuredModel());
  return id === undefined ? undefined : catalogEntry(id);
}

export function modelLabel(model: string): string {
  const id = catalogIdOf(model);
  if (id !== undefined) return catalogEntry(id)?.name ?? id;
  if (model.startsWith("hf:")) return model.split("/").pop() ?? model;
  return model.split(/[\\/]/).pop() ?? model;
}

/** The status's label of the model in use, and whether it is a demo model. */
export function labelPart(): { label: string; demo?: boolean } {
  return { label: modelLabel(configuredModel()), ...(configuredEntry()?.demo ? { demo: true } : {}) };
}

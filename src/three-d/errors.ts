// The one error the 3D code throws for a problem with the model or the params (not a bug): its name
// leads the job's error headline, its message says what to change.
export class ModelError extends Error {
  override name = "ModelError";
}

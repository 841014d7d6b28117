"""What the emulated model says: deterministic answers (structured, cited), token counts, prompt caching."""

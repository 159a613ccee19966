//! The one place that spawns processes: commands with a human description, stderr tail in errors.

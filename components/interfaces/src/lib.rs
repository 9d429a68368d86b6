//! Placeholder until the generated interfaces land.

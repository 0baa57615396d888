//! Container images.

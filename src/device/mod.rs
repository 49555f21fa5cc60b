//! Device tokens: the signed cookie that lets a verified browser pass.

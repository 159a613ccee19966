//! Release files (os-release, redhat-release, SuSE-release, lsb-release, debian_version): parse into an OS identity.

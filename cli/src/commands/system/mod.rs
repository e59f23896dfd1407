//! System commands (docker/cli 28 `cli/command/system`): `version` and `info`
//! (info.rs); `inspect`, generic and for containers and images, whose printing
//! network, volume and host inspect share (inspect.rs); `system df` and `system
//! prune` (disk.rs).

pub mod disk;
pub mod info;
pub mod inspect;

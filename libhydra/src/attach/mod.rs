//! Disks to block devices: loop devices and partitions from ioctls, FUSE exports; each a guard.

use super::*;

#[test]
fn names_follow_docker_rules_and_keep_default_reserved() {
    assert!(valid_name("node1"));
    assert!(valid_name("a.b-c_d"));
    assert!(!valid_name("x"));
    assert!(!valid_name("-x"));
    assert!(!valid_name("default"));
    assert!(!valid_name("a/b"));
    assert!(!valid_name(&"a".repeat(41)));
}

#[test]
fn defaults_fit_two_hundred_hosts_on_a_classroom_machine() {
    let d = Defaults::default();
    // Caps are ceilings; what must fit is the disk actually reserved by
    // sparse images (nothing) and idle memory, measured in the benchmark.
    assert!(d.limits.memory.unwrap() <= 2 << 30);
    assert!(d.limits.pids_limit.unwrap() <= 4096);
    // Checked at compile time below: 200 hosts per daemon, ids below 2^31
    // (devpts' gid= on kernels before 6.6), old ranges within u32.
    const { assert!(MAX_SLOTS >= 200) };
    const { assert!(UID_FIRST as u64 + (BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64 <= 1 << 31) };
    const {
        assert!(
            UID_FIRST as u64 + (OLD_BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64
                <= u32::MAX as u64
        )
    };
    assert_eq!(UID_FIRST % UID_SIZE, 0);
}

#[test]
fn uid_ranges_stay_below_2_31_and_old_data_roots_keep_theirs() {
    // A new data root: below 2^31, and kept.
    for i in 0..50 {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(format!("r{i}")).join("vhosts");
        std::fs::create_dir_all(&dir).unwrap();
        let first = uid_first_of(&root.path().join(format!("r{i}")), &dir, false).unwrap();
        assert!(
            first as u64 + (MAX_SLOTS * UID_SIZE) as u64 <= 1 << 31,
            "{first:#x}"
        );
        assert_eq!(first % UID_SIZE, 0);
        let kept = std::fs::read_to_string(dir.join(UID_FIRST_FILE)).unwrap();
        assert_eq!(kept, first.to_string());
        assert_eq!(
            uid_first_of(root.path(), &dir, true).unwrap(),
            first,
            "read back"
        );
    }
    // A data root whose virtual hosts of before live on: the old formula,
    // then kept; one whose records are of dead hosts only: the new one.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("vhosts");
    std::fs::create_dir_all(&dir).unwrap();
    let old = hashed_uid_first(root.path(), OLD_BUCKETS);
    assert_eq!(uid_first_of(root.path(), &dir, true).unwrap(), old);
    assert_eq!(
        uid_first_of(root.path(), &dir, false).unwrap(),
        old,
        "kept once chosen"
    );
    let root2 = tempfile::tempdir().unwrap();
    let dir2 = root2.path().join("vhosts");
    std::fs::create_dir_all(&dir2).unwrap();
    assert_eq!(
        uid_first_of(root2.path(), &dir2, false).unwrap(),
        hashed_uid_first(root2.path(), BUCKETS)
    );
}

/// The API side of a virtual host for the tests: records what it was asked,
/// and refuses to serve when told to.
#[derive(Default)]
struct TestApi {
    refuse: bool,
    stopped: Mutex<Vec<String>>,
}

impl ApiServer for Arc<TestApi> {
    fn serve(&self, _: Arc<Daemon>, _: &Path) -> Result<()> {
        if self.refuse {
            return Err(Error::Internal("serving refused as the test asked".into()));
        }
        Ok(())
    }
    fn stop(&self, name: &str) {
        self.stopped.locked().push(name.to_string());
    }
}

/// A manager on a temporary data root, the recording kernel and no cgroups;
/// the shared base is marked made (it needs the machine's busybox, not root).
async fn manager_on(
    kernel: &Arc<crate::kernel::Recorder>,
    api: &Arc<TestApi>,
) -> (tempfile::TempDir, Arc<Manager>) {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("vhost-base/rootfs");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join(".complete"), b"").unwrap();
    let m = Manager::open_on(
        root.path(),
        PathBuf::from("/bin/true"),
        Defaults::default(),
        None,
        Box::new(api.clone()),
        kernel.clone(),
        None,
    )
    .await
    .expect("open the manager");
    (root, m)
}

fn request(name: &str) -> VhostCreateRequest {
    VhostCreateRequest {
        name: name.into(),
        ..Default::default()
    }
}

/// A virtual host's disk image and the folder it is mounted at.
fn disk_of(root: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        root.join(format!("vhosts/{name}.img")),
        crate::daemon::dir_in(root, name),
    )
}

/// Nothing of a virtual host is left under the data root.
fn assert_nothing_left(root: &Path, name: &str) {
    for p in [
        root.join(format!("vhosts/{name}.json")),
        root.join(format!("vhosts/{name}.img")),
        crate::daemon::dir_in(root, name),
    ] {
        assert!(!p.exists(), "{} is left", p.display());
    }
}

#[tokio::test]
async fn a_disk_that_cannot_be_made_leaves_nothing_and_frees_the_name() {
    let kernel = Arc::new(crate::kernel::Recorder::default());
    let api = Arc::new(TestApi::default());
    let (root, m) = manager_on(&kernel, &api).await;
    kernel.fail("make_disk");
    let e = m.create(request("vh1")).await.unwrap_err();
    assert!(e.to_string().contains("make_disk"), "{e}");
    let (img, dir) = disk_of(root.path(), "vh1");
    use crate::kernel::Call::*;
    assert_eq!(
        kernel.calls(),
        [
            MakeDisk {
                image: img.clone(),
                size: 2 << 30
            },
            // mkfs leaves the file: the clean-up tries to mount it to release
            // its images, which an unformatted file refuses.
            MountDisk { image: img, dir },
        ]
    );
    assert_nothing_left(root.path(), "vh1");
    assert!(m.list().is_empty());
    // The name is free again: the same failure, not "already exists".
    let again = m.create(request("vh1")).await.unwrap_err();
    assert!(again.to_string().contains("make_disk"), "{again}");
}

#[tokio::test]
async fn a_disk_that_cannot_be_mounted_is_removed() {
    let kernel = Arc::new(crate::kernel::Recorder::default());
    let api = Arc::new(TestApi::default());
    let (root, m) = manager_on(&kernel, &api).await;
    kernel.fail("mount_disk");
    let mut req = request("vh2");
    req.limits.disk = Some(64 << 20);
    m.create(req).await.unwrap_err();
    let (img, dir) = disk_of(root.path(), "vh2");
    use crate::kernel::Call::*;
    assert_eq!(
        kernel.calls(),
        [
            MakeDisk {
                image: img.clone(),
                size: 64 << 20
            },
            MountDisk {
                image: img.clone(),
                dir: dir.clone()
            },
            // The clean-up mounts it again to release the images on it.
            MountDisk { image: img, dir },
        ]
    );
    assert_nothing_left(root.path(), "vh2");
    assert_eq!(*api.stopped.locked(), ["vh2"]);
}

#[tokio::test]
async fn a_failure_after_the_mount_unmounts_the_disk_and_removes_it() {
    let kernel = Arc::new(crate::kernel::Recorder::default());
    let api = Arc::new(TestApi {
        refuse: true,
        ..Default::default()
    });
    let (root, m) = manager_on(&kernel, &api).await;
    let mut req = request("vh3");
    req.limits.disk = Some(64 << 20);
    // As root the daemon opens on the disk and serving it fails; as a user
    // the chown of its run directory fails first. Either way, after the mount.
    m.create(req).await.unwrap_err();
    let (img, dir) = disk_of(root.path(), "vh3");
    use crate::kernel::Call::*;
    assert_eq!(
        kernel.calls(),
        [
            MakeDisk {
                image: img.clone(),
                size: 64 << 20
            },
            MountDisk {
                image: img,
                dir: dir.clone()
            },
            Unmount { dir, lazy: false },
        ]
    );
    assert!(kernel.mounted().is_empty());
    assert_nothing_left(root.path(), "vh3");
}

#[tokio::test]
async fn a_record_whose_disk_is_not_mounted_is_not_adopted_and_goes() {
    let kernel = Arc::new(crate::kernel::Recorder::default());
    let api = Arc::new(TestApi::default());
    let root = tempfile::tempdir().unwrap();
    // What a reboot leaves: a record and a disk image, nothing mounted.
    let rec = Record {
        name: "gone".into(),
        hostname: "gone".into(),
        slot: 3,
        created: String::new(),
        created_unix: 0,
        ttl: 0,
        idle_timeout: 0,
        limits: VhostLimits::default(),
        session: String::new(),
        egress: "none".into(),
        sandbox: "s".into(),
        ip: String::new(),
        labels: Default::default(),
    };
    std::fs::create_dir_all(root.path().join("vhosts")).unwrap();
    write_json_atomic(&root.path().join("vhosts/gone.json"), &rec).unwrap();
    let (img, dir) = disk_of(root.path(), "gone");
    std::fs::write(&img, b"").unwrap();
    let m = Manager::open_on(
        root.path(),
        PathBuf::from("/bin/true"),
        Defaults::default(),
        None,
        Box::new(api.clone()),
        kernel.clone(),
        None,
    )
    .await
    .unwrap();
    assert!(m.list().is_empty());
    // Its disk is tried once more to release the images it held (this one,
    // never formatted, does not mount: nothing is unmounted), and everything
    // of it removed.
    assert_eq!(
        kernel.calls(),
        [crate::kernel::Call::MountDisk { image: img, dir }]
    );
    assert_nothing_left(root.path(), "gone");
}

/// The first hosts of a new data root asked for at once: one builds the
/// shared base, the others wait for it; all get the whole base.
#[tokio::test]
async fn hosts_asked_for_at_once_share_one_base() {
    crate::testing::require_root!();
    let kernel = Arc::new(crate::kernel::Recorder::default());
    let api = Arc::new(TestApi::default());
    let (root, m) = manager_on(&kernel, &api).await;
    std::fs::remove_dir_all(root.path().join("vhost-base")).unwrap();
    let built: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || m.ensure_base())
        })
        .collect();
    for b in built {
        let base = b.join().unwrap().expect("the base");
        assert!(base.join(".complete").exists());
        assert!(base.join("bin/sh").exists() && base.join("etc/profile").exists());
    }
    let left: Vec<_> = std::fs::read_dir(root.path().join("vhost-base"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["rootfs"], "only the base is left");
}

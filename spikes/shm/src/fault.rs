//! Fault spike for iceoryx2 (requirement 3 of issue 13): kill -9 of a
//! subscriber that holds samples, kill -9 of a publisher while a subscriber
//! holds samples. Prints one line per check and fails on the first broken one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iceoryx2::prelude::*;

const SIZE: usize = 1 << 20;

fn e(what: &str, err: impl std::fmt::Debug) -> String {
    format!("iceoryx2: {what}: {err:?}")
}

fn service(
    node: &Node<ipc::Service>,
    name: &str,
) -> Result<
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>,
    String,
> {
    let sn: ServiceName = name.try_into().map_err(|x| e("name", x))?;
    node.service_builder(&sn)
        .publish_subscribe::<[u8]>()
        .max_publishers(2)
        .max_subscribers(4)
        .subscriber_max_buffer_size(4)
        .subscriber_max_borrowed_samples(2)
        .history_size(0)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(|x| e("service", x))
}

fn pattern(seq: u64, i: usize) -> u8 {
    ((seq as usize + i) % 251) as u8
}

fn shm_bytes() -> u64 {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Child roles.
pub fn role(role: &str, name: &str) -> Result<(), String> {
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|x| e("node", x))?;
    let ps = service(&node, name)?;
    match role {
        "hold-sub" => {
            let sub = ps
                .subscriber_builder()
                .create()
                .map_err(|x| e("subscriber", x))?;
            let mut held = Vec::new();
            while held.len() < 2 {
                if let Some(s) = sub.receive().map_err(|x| e("receive", x))? {
                    held.push(s);
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            println!("holding");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "count-sub" => {
            let sub = ps
                .subscriber_builder()
                .create()
                .map_err(|x| e("subscriber", x))?;
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed() < Duration::from_secs(1) {
                match sub.receive().map_err(|x| e("receive", x))? {
                    Some(_) => n += 1,
                    None => std::thread::sleep(Duration::from_micros(200)),
                }
            }
            println!("received {n}");
            Ok(())
        }
        "pub" => {
            let publisher = ps
                .publisher_builder()
                .initial_max_slice_len(SIZE)
                .create()
                .map_err(|x| e("publisher", x))?;
            println!("ready");
            for seq in 0..1_000_000u64 {
                let s = publisher
                    .loan_slice_uninit(SIZE)
                    .map_err(|x| e("loan", x))?;
                let s = s.write_from_fn(|i| pattern(seq, i));
                s.send().map_err(|x| e("send", x))?;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        }
        _ => Err(format!("unknown role {role}")),
    }
}

fn child(role: &str, name: &str) -> Result<(Child, std::sync::mpsc::Receiver<String>), String> {
    let mut c = Command::new(std::env::current_exe().map_err(|x| x.to_string())?)
        .args(["--fault-role", role, "--name", name])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|x| x.to_string())?;
    let out = c.stdout.take().ok_or("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Ok((c, rx))
}

fn kill9(c: &mut Child) {
    // SAFETY: plain syscall on our own child's pid.
    unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
    let _ = c.wait();
}

fn cleanup_dead() -> Result<usize, String> {
    let mut n = 0;
    Node::<ipc::Service>::list(Config::global_config(), |state| {
        if let NodeState::<ipc::Service>::Dead(view) = state {
            if view.try_remove_stale_resources().is_ok() {
                n += 1;
            }
        }
        CallbackProgression::Continue
    })
    .map_err(|x| e("list", x))?;
    Ok(n)
}

fn check(ok: bool, what: String) -> Result<(), String> {
    println!("{} {what}", if ok { "PASS" } else { "FAIL" });
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

pub fn run() -> Result<(), String> {
    let name = format!("cortex-fault/{}/a", std::process::id());
    let shm0 = shm_bytes();
    // 1. A subscriber holding its maximum of borrowed samples is killed -9.
    {
        let node = NodeBuilder::new()
            .create::<ipc::Service>()
            .map_err(|x| e("node", x))?;
        let ps = service(&node, &name)?;
        let publisher = ps
            .publisher_builder()
            .initial_max_slice_len(SIZE)
            .max_loaned_samples(2)
            .create()
            .map_err(|x| e("publisher", x))?;
        let (mut sub, lines) = child("hold-sub", &name)?;
        let mut sent = 0u64;
        let send = |seq: u64| -> Result<(), String> {
            let s = publisher
                .loan_slice_uninit(SIZE)
                .map_err(|x| e("loan", x))?;
            s.write_from_fn(|i| pattern(seq, i))
                .send()
                .map_err(|x| e("send", x))?;
            Ok(())
        };
        let t = Instant::now();
        while lines.try_recv().is_err() {
            send(sent)?;
            sent += 1;
            std::thread::sleep(Duration::from_millis(1));
            if t.elapsed() > Duration::from_secs(10) {
                return Err("subscriber never held samples".into());
            }
        }
        let shm_held = shm_bytes();
        kill9(&mut sub);
        let mut errors = 0;
        let t = Instant::now();
        let mut after = 0;
        while t.elapsed() < Duration::from_secs(2) {
            if send(after).is_err() {
                errors += 1;
            }
            after += 1;
        }
        check(errors == 0, format!("publisher keeps publishing after kill -9 of a subscriber holding 2 samples: {after} sends in 2 s, {errors} failed"))?;
        let cleaned = cleanup_dead()?;
        check(
            cleaned >= 1,
            format!("dead subscriber node found and its resources removed ({cleaned} node(s))"),
        )?;
        let (mut counter, lines) = child("count-sub", &name)?;
        let t = Instant::now();
        let mut got = None;
        let mut seq = after;
        while got.is_none() && t.elapsed() < Duration::from_secs(5) {
            send(seq)?;
            seq += 1;
            std::thread::sleep(Duration::from_millis(1));
            if let Ok(l) = lines.try_recv() {
                got = l
                    .strip_prefix("received ")
                    .and_then(|v| v.parse::<u64>().ok());
            }
        }
        let _ = counter.wait();
        check(
            got.unwrap_or(0) > 0,
            format!(
                "a new subscriber receives afterwards ({} samples in 1 s)",
                got.unwrap_or(0)
            ),
        )?;
        let shm_now = shm_bytes();
        check(
            shm_now <= shm_held,
            format!("shared memory bounded: /dev/shm {} MiB with the holder alive, {} MiB after (before the test {} MiB)", shm_held >> 20, shm_now >> 20, shm0 >> 20),
        )?;
    }
    // 2. The publisher is killed -9 while this process holds two of its samples.
    {
        let name = format!("cortex-fault/{}/b", std::process::id());
        let node = NodeBuilder::new()
            .create::<ipc::Service>()
            .map_err(|x| e("node", x))?;
        let ps = service(&node, &name)?;
        let sub = ps
            .subscriber_builder()
            .create()
            .map_err(|x| e("subscriber", x))?;
        let (mut publ, _lines) = child("pub", &name)?;
        let mut held = Vec::new();
        let t = Instant::now();
        while held.len() < 2 && t.elapsed() < Duration::from_secs(10) {
            match sub.receive().map_err(|x| e("receive", x))? {
                Some(s) => held.push(s),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        check(
            held.len() == 2,
            "received two samples from the child publisher".into(),
        )?;
        kill9(&mut publ);
        std::thread::sleep(Duration::from_millis(200));
        let intact = held.iter().all(|s| {
            let p = s.payload();
            let seq = (0..251u64).find(|&q| pattern(q, 0) == p[0]).unwrap_or(0);
            p.len() == SIZE && p.iter().enumerate().all(|(i, b)| *b == pattern(seq, i))
        });
        check(
            intact,
            "held samples stay valid and intact after kill -9 of their publisher".into(),
        )?;
        drop(held);
        let cleaned = cleanup_dead()?;
        let again = ps.publisher_builder().initial_max_slice_len(SIZE).create();
        check(
            again.is_ok(),
            format!(
                "a new publisher opens the service after cleanup ({cleaned} dead node(s) removed)"
            ),
        )?;
    }
    let shm_end = shm_bytes();
    check(
        shm_end <= shm0 + (1 << 20),
        format!("/dev/shm back to its size before the test after both processes' nodes are gone: {} KiB (before {} KiB)", shm_end >> 10, shm0 >> 10),
    )?;
    Ok(())
}

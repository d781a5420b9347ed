#[cortex::main(name = "has space", workers = 2, worker_threads = 0, discovery = "localhost:5555")]
async fn main(a: u32, b: u32) {}

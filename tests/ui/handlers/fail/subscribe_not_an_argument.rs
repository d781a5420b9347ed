use cortex::prelude::*;

#[derive(Message)]
struct Reading {
    value: f64,
}

// Neither a message nor an extractor.
#[subscribe("/a")]
async fn with_count(r: Reading, count: u32) {}

mod my_msgs {
    // Named like cortex's `Header`, but neither a message nor cortex's.
    pub struct Header {
        pub frame_id: String,
    }
}

#[subscribe("/b")]
async fn with_own_header(r: Reading, h: my_msgs::Header) {}

fn main() {}

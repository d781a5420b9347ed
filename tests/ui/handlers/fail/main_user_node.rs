// A type of the user's named `Node` is not cortex's node.
struct Node;

#[cortex::main]
async fn main(_node: Node) -> cortex::Result<()> {
    Ok(())
}

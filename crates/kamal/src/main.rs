fn main() {
    println!("kamal-rs");
}

fn main() {
    println!("kamal-proxy");
}

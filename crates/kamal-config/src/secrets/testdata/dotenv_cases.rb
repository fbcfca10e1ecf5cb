# Generates random dotenv texts and what dotenv 3.2.0's parser makes of them (no `(`, so no
# command runs). `dotenv_cases.json` is a sample of 500 of these results:
#   ruby dotenv_cases.rb   (with dotenv 3.2.0's lib/ at DOTENV_LIB)
$LOAD_PATH.unshift ENV.fetch("DOTENV_LIB")
require "dotenv"
require "json"
srand(42)
alphabet = ["A", "B", "=", ":", " ", "\n", "'", "\"", "\\", "#", "$", "{", "}", "export ", "x", "\t", "\r", "\\n", "é", ".", "A=", "B=", "\n"]
cases = []
ENV.keys.each { |k| ENV.delete(k) unless k == "PATH" }
ENV["X"] = "envx"
30000.times do
  s = Array.new(rand(1..25)) { alphabet.sample }.join
  begin
    r = Dotenv::Parser.call(s, overwrite: true).to_a
    cases << { "input" => s, "output" => r }
  rescue Dotenv::FormatError => e
    cases << { "input" => s, "error" => e.message }
  end
end
File.write("dotenv_cases_all.json", JSON.dump(cases))

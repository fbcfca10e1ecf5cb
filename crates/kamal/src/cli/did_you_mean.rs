//! Ruby's `DidYouMean::SpellChecker`, which Thor asks for the `Did you mean?` lines under
//! `Could not find command "…".`: Jaro-Winkler to pick candidates, then Levenshtein to
//! keep the near ones.

/// The words of `dictionary` Ruby would suggest for `input`, best first.
pub fn corrections<'a>(given: &str, dictionary: &[&'a str]) -> Vec<&'a str> {
    let input = normalize(given);
    let threshold = if input.chars().count() > 3 { 0.834 } else { 0.77 };
    let mut words: Vec<&str> = dictionary
        .iter()
        .copied()
        .filter(|word| jaro_winkler(&normalize(word), &input) >= threshold)
        .filter(|word| *word != given)
        .collect();
    // `sort_by!` then `reverse!`: the closest first.
    words.sort_by(|left, right| jaro_winkler(left, &input).total_cmp(&jaro_winkler(right, &input)));
    words.reverse();

    // Mistypes: within a quarter of the input's length.
    let length = input.chars().count();
    let allowed = length.div_ceil(4);
    let mistypes: Vec<&str> = words
        .iter()
        .copied()
        .filter(|word| levenshtein(&normalize(word), &input) <= allowed)
        .collect();
    if !mistypes.is_empty() {
        return mistypes;
    }
    // Misspellings: the best one that shares more than it differs.
    words
        .into_iter()
        .filter(|word| {
            let word = normalize(word);
            levenshtein(&word, &input) < length.min(word.chars().count())
        })
        .take(1)
        .collect()
}

/// Thor's message tail: `\nDid you mean?  "a"\n               "b"`, or nothing.
pub fn message(input: &str, dictionary: &[&str]) -> String {
    let found = corrections(input, dictionary);
    if found.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = found.iter().map(|word| format!("\"{word}\"")).collect();
    format!("\nDid you mean?  {}", quoted.join("\n               "))
}

fn normalize(word: &str) -> String {
    word.to_lowercase().replace('@', "")
}

fn jaro(first: &str, second: &str) -> f64 {
    let (mut shorter, mut longer): (Vec<char>, Vec<char>) =
        (first.chars().collect(), second.chars().collect());
    if shorter.len() > longer.len() {
        std::mem::swap(&mut shorter, &mut longer);
    }
    let range = (longer.len() / 2).saturating_sub(1);
    let mut matched_shorter = vec![false; shorter.len()];
    let mut matched_longer = vec![false; longer.len()];
    let mut matches = 0.0;
    for (index, character) in shorter.iter().enumerate() {
        let start = index.saturating_sub(range);
        let end = (index + range).min(longer.len().saturating_sub(1));
        for other in start..=end {
            if other < longer.len() && !matched_longer[other] && *character == longer[other] {
                matched_longer[other] = true;
                matched_shorter[index] = true;
                matches += 1.0;
                break;
            }
        }
    }
    if matches == 0.0 {
        return 0.0;
    }
    let mut transpositions = 0.0;
    let mut next = 0;
    for (index, character) in shorter.iter().enumerate() {
        if !matched_shorter[index] {
            continue;
        }
        let mut other = next;
        while other < longer.len() && !matched_longer[other] {
            other += 1;
        }
        next = other + 1;
        if longer.get(other) != Some(character) {
            transpositions += 1.0;
        }
    }
    let transpositions = (transpositions / 2.0_f64).floor();
    (matches / shorter.len() as f64 + matches / longer.len() as f64 + (matches - transpositions) / matches)
        / 3.0
}

fn jaro_winkler(first: &str, second: &str) -> f64 {
    let distance = jaro(first, second);
    if distance <= 0.7 {
        return distance;
    }
    let prefix = first
        .chars()
        .zip(second.chars())
        .take(4)
        .take_while(|(left, right)| left == right)
        .count();
    distance + prefix as f64 * 0.1 * (1.0 - distance)
}

fn levenshtein(first: &str, second: &str) -> usize {
    let second: Vec<char> = second.chars().collect();
    let mut row: Vec<usize> = (0..=second.len()).collect();
    for (index, left) in first.chars().enumerate() {
        let mut previous = row[0];
        row[0] = index + 1;
        for (column, right) in second.iter().enumerate() {
            let substitution = previous + usize::from(left != *right);
            previous = row[column + 1];
            row[column + 1] = substitution.min(row[column] + 1).min(row[column + 1] + 1);
        }
    }
    row[second.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_as_ruby_does() {
        let app = [
            "boot",
            "start",
            "stop",
            "remove",
            "remove_container",
            "remove_containers",
            "remove_images",
            "help",
            "tree",
        ];
        assert_eq!(corrections("boott", &app), vec!["boot"]);
        assert_eq!(corrections("remove_i", &app), vec!["remove"]);
        assert_eq!(corrections("remove_con", &app), vec!["remove_container"]);
        assert_eq!(
            corrections("remove_containe", &app),
            vec!["remove_container", "remove_containers"]
        );
        assert_eq!(corrections("nonexistent", &app), Vec::<&str>::new());
        assert_eq!(
            message("remove_containe", &app),
            "\nDid you mean?  \"remove_container\"\n               \"remove_containers\""
        );
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert!((jaro("martha", "marhta") - 0.944).abs() < 0.001);
    }
}

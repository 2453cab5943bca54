#!/usr/bin/env python3
"""Train the example AG_NEWS classifier and write vocab.json + weights.json.

    python3 examples/agnews-classifier/train.py [OUT_DIR]

OUT_DIR defaults to the ``model/`` directory next to this script. The corpus
below is small and hand-written (not the real AG_NEWS data set): it is meant
to give a tiny, reproducible artifact for exercising a model lifecycle, not a
good news classifier.

Training is deterministic: the same script always writes byte-identical files
(sorted vocabulary, rounded weights, fixed JSON layout), so the checked-in
model can be verified by re-running it (see test_serve.py).

Model: multinomial naive Bayes with Laplace (add-alpha) smoothing:

    log P(c)   = log(documents in c / documents)
    log P(t|c) = log((count(t, c) + alpha) / (tokens in c + alpha * |V|))
"""

import argparse
import importlib.util
import json
import math
import os
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT_DIR = os.path.join(HERE, "model")

ALPHA = 1.0  # Laplace smoothing
# Weights are rounded so the files are small and stable to diff; 6 decimals is
# far below anything that changes a prediction.
DECIMALS = 6

# AG_NEWS label numbering.
CLASSES = ((1, "World"), (2, "Sports"), (3, "Business"), (4, "Sci/Tech"))

# The seed test cases. They are deliberately NOT part of the corpus below; the
# trained model must still get them right (checked at the end of training).
SEED_CASES = (
    ("The new president has called for an emergency conference for international cooperation.", 1),
    ("Baseball is one of the most popular sports in the United States.", 2),
    ("Stock investing has higher returns in the long run.", 3),
    ("The development of science accelerated the development of mankind.", 4),
)

# fmt: off
CORPUS = {
    1: [  # World
        "The prime minister met foreign leaders at the summit to discuss the border dispute.",
        "United Nations envoys urged both sides to agree to an immediate ceasefire.",
        "Rebels seized control of the northern province after weeks of fighting.",
        "The government declared a state of emergency after the earthquake killed hundreds.",
        "Voters went to the polls in a tense presidential election.",
        "The foreign minister condemned the missile test as a threat to regional peace.",
        "Peace talks between the two countries resumed in Geneva on Monday.",
        "Thousands of refugees crossed the border fleeing the civil war.",
        "The president signed a treaty with neighbouring nations on security cooperation.",
        "Troops were deployed to the capital after violent protests.",
        "The parliament voted to approve the new constitution.",
        "Diplomats from the European Union held an emergency meeting on the crisis.",
        "A suicide bomber attacked a police station, killing twelve people.",
        "The opposition leader was arrested and charged with treason.",
        "International observers said the election was neither free nor fair.",
        "The embassy was closed after threats against foreign nationals.",
        "Military officers staged a coup and dissolved the cabinet.",
        "The ambassador called for international sanctions against the regime.",
        "Leaders of the NATO alliance gathered for a summit in Brussels.",
        "Hostages were released after negotiations with the kidnappers.",
        "Aid agencies warned of famine as drought spread across the region.",
        "The Security Council passed a resolution demanding the withdrawal of foreign forces.",
        "Iraqi officials said insurgents attacked a convoy near Baghdad.",
        "The president of France arrived in Beijing for a state visit.",
        "Protesters demanded the resignation of the prime minister.",
        "The ruling party won a majority of seats in parliamentary elections.",
        "Soldiers clashed with militants in the disputed territory.",
        "The king pardoned hundreds of political prisoners.",
        "Humanitarian workers delivered food and medicine to displaced families.",
        "The foreign ministry summoned the ambassador over the spy scandal.",
        "The two nations agreed to restore diplomatic relations after a decade.",
        "Nuclear inspectors were allowed to visit the disputed facility.",
        "Flooding forced the evacuation of villages along the river, officials said.",
        "The newly elected president pledged to fight corruption and poverty.",
        "Air strikes hit rebel positions outside the city overnight.",
        "The prime minister called an early general election.",
        "Delegates at the regional conference agreed on a plan for closer cooperation.",
        "Gunmen opened fire on a bus carrying pilgrims.",
        "The interior minister resigned amid allegations of bribery.",
        "Talks on the peace agreement collapsed after the ceasefire was violated.",
        "The international community pledged billions in reconstruction aid.",
        "The president addressed the nation after the terrorist attack.",
        "Border guards detained dozens of migrants trying to cross illegally.",
        "Rival factions signed a power sharing deal to end the conflict.",
        "Election officials began counting ballots amid accusations of fraud.",
        "The army withdrew its troops from the occupied region.",
    ],
    2: [  # Sports
        "The home team won the championship game in overtime.",
        "The striker scored twice as the club beat its rivals in the league.",
        "The pitcher threw a no-hitter as the Yankees beat the Red Sox.",
        "The quarterback threw three touchdown passes in the victory.",
        "She won the gold medal in the 100 metres at the Olympic Games.",
        "The coach was fired after the team lost eight straight games.",
        "The tennis star advanced to the final of the Open with a straight sets win.",
        "The golfer shot a final round 66 to win the tournament by two strokes.",
        "The basketball team signed the forward to a five year contract.",
        "Fans celebrated after the national team qualified for the World Cup.",
        "The Red Sox rallied in the ninth inning to win the baseball playoff game.",
        "The cyclist won the stage and took the overall lead in the race.",
        "The goalkeeper made a late save to preserve the draw.",
        "Injuries forced the star player to miss the rest of the season.",
        "The boxer knocked out the champion in the third round.",
        "The hockey team defeated their rivals in a shootout.",
        "The sprinter set a new world record at the athletics meeting.",
        "The manager praised his players after a hard fought win.",
        "The defending champions were knocked out in the semifinal.",
        "The cricket team won the test series against Australia.",
        "The rookie hit a home run in his first major league at bat.",
        "The Formula One driver won the Grand Prix from pole position.",
        "The marathon runner finished first in record time.",
        "The league suspended the player for ten games for doping.",
        "The swimmer won four gold medals at the championships.",
        "Sports fans packed the stadium for the season opener.",
        "The football club appointed a new head coach on Tuesday.",
        "The batter drove in two runs as the team clinched the pennant.",
        "The NBA finals went to a deciding seventh game.",
        "The tennis player withdrew from the tournament with a wrist injury.",
        "The Olympic team arrived in Athens ahead of the opening ceremony.",
        "The Patriots beat the Colts to stay unbeaten this season.",
        "The midfielder signed for the club in a record transfer.",
        "Baseball writers voted him the most valuable player of the series.",
        "Football remains the most popular game among young fans in Europe.",
        "The sports league announced a new schedule for the playoffs.",
        "The veteran pitcher announced his retirement from baseball.",
        "The team captain scored the winning goal in extra time.",
        "The racing champion crashed during practice but was not hurt.",
        "The basketball star scored 40 points in a win over the Lakers.",
        "The college football team climbed to first in the rankings.",
        "Fans booed as the home side lost the match on penalties.",
        "The wrestler retained his title at the championships.",
        "The baseball season opens next week with a game in Tokyo.",
        "The coach said the team needs to improve its defense before the playoffs.",
        "Millions of sports fans in the United States watched the final on television.",
    ],
    3: [  # Business
        "Shares of the company rose after it reported higher quarterly profits.",
        "The central bank raised interest rates to curb inflation.",
        "Oil prices climbed to a record high on supply concerns.",
        "The retailer said sales fell in the third quarter.",
        "Investors sold stocks as the dollar weakened against the euro.",
        "The airline announced plans to cut jobs and reduce costs.",
        "The merger will create the largest bank in the country.",
        "Wall Street stocks closed higher as earnings beat expectations.",
        "The company agreed to buy its rival for two billion dollars in cash and stock.",
        "Unemployment fell as employers added jobs last month.",
        "The automaker recalled thousands of vehicles over a brake defect.",
        "Over the long term, stocks have delivered better returns than bonds.",
        "The fund manager said investing in emerging markets carries more risk.",
        "Consumer spending rose as retail sales increased in December.",
        "The firm filed for bankruptcy protection after failing to pay its debts.",
        "The government reported that the economy grew faster than forecast.",
        "Treasury bond yields rose as traders expected higher rates.",
        "The chief executive resigned after an accounting scandal.",
        "The stock market rallied on hopes of lower oil prices.",
        "The company said revenue would rise in the coming year.",
        "The mortgage lender reported a loss due to bad loans.",
        "Investors bought shares of technology companies in heavy trading.",
        "The trade deficit widened as imports grew.",
        "The insurer raised its profit forecast for the full year.",
        "Shareholders approved the takeover at a meeting on Friday.",
        "The price of gold rose as investors sought a safe haven.",
        "Analysts expect the retailer to post strong holiday sales.",
        "The bank cut its dividend after losses on investments.",
        "The Dow Jones industrial average fell 100 points.",
        "The company will sell its chemicals unit to a private equity firm.",
        "Inflation remained low despite rising energy costs.",
        "The pension fund increased its holdings of corporate bonds.",
        "Wages grew slowly while corporate profits reached record levels.",
        "The brewer said higher costs would squeeze its margins.",
        "The regulator fined the bank for misleading investors.",
        "The initial public offering raised more money than expected.",
        "Crude oil futures dropped on reports of rising inventories.",
        "The economy slowed as consumers cut back on spending.",
        "The discount chain plans to open hundreds of new stores.",
        "Stock prices fell sharply on fears of a slowdown.",
        "The hedge fund posted strong returns for its clients.",
        "The telecom company reported weaker earnings and cut its outlook.",
        "Mortgage rates rose for the third straight week.",
        "The steel maker raised prices amid strong demand.",
        "Savers are moving money from bank deposits into stock funds.",
        "The budget airline expects profits to double next year.",
    ],
    4: [  # Sci/Tech
        "Scientists discovered a new species of frog in the rain forest.",
        "The space agency launched a probe to study Mars.",
        "The software company released a security patch for its operating system.",
        "Researchers developed a faster method for sequencing genes.",
        "Astronomers found a planet orbiting a distant star.",
        "The new chip doubles the speed of laptop computers.",
        "Hackers exploited a flaw in the web browser to spread a virus.",
        "Physicists observed a new particle at the accelerator.",
        "The search engine added a feature for searching images.",
        "The study found that climate change is melting glaciers faster than expected.",
        "Engineers are building a robot that can walk on two legs.",
        "The spacecraft sent back images of Saturn's moons.",
        "A new vaccine showed promise in early clinical trials.",
        "The mobile phone maker unveiled a handset with a color screen.",
        "Biologists sequenced the genome of the chimpanzee.",
        "The internet provider began offering faster broadband service.",
        "Scientists used stem cells to grow new heart tissue.",
        "The open source project released a new version of Linux.",
        "Researchers say the telescope will reveal the early universe.",
        "The game console will support online play and digital downloads.",
        "Email spam now accounts for most messages sent on the internet.",
        "Geologists measured the movement of the tectonic plates.",
        "The astronauts returned safely from the space station.",
        "Chemists created a material that conducts electricity without loss.",
        "The computer virus infected millions of machines worldwide.",
        "Researchers at the university built a quantum computer prototype.",
        "The wireless network lets users connect to the web anywhere.",
        "A fossil discovery sheds light on the evolution of birds.",
        "The software update fixes bugs and improves battery life.",
        "NASA scientists said the rover found evidence of water on Mars.",
        "Advances in medical science have extended human life expectancy.",
        "Software development tools help programmers write code faster.",
        "The development of new drugs depends on basic science research.",
        "Programmers found a security hole in the database software.",
        "The new digital camera stores thousands of photos.",
        "Scientists warned that the ozone layer is still thinning.",
        "The moon landing was a giant leap for mankind and for science.",
        "Technology companies are racing to develop artificial intelligence.",
        "The satellite will map the surface of the ocean.",
        "The music download service sold its millionth song.",
        "Researchers accelerated the particles to nearly the speed of light.",
        "The development of the transistor transformed electronics.",
        "Scientists believe the comet carries ancient organic molecules.",
        "The operating system update includes new privacy controls.",
        "The science museum opened an exhibit on the history of computing.",
        "A supercomputer simulated the climate of the entire planet.",
    ],
}
# fmt: on


def load_serve_module():
    """Import serve.py from this directory (for its tokenizer and model class)."""
    path = os.path.join(HERE, "serve.py")
    spec = importlib.util.spec_from_file_location("agnews_serve", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(corpus, tokenize):
    """Return (vocab, weights) as JSON-ready objects."""
    labels = [label for label, _ in CLASSES]
    token_counts = {label: Counter() for label in labels}
    for label in labels:
        for sentence in corpus[label]:
            token_counts[label].update(tokenize(sentence))

    vocabulary = sorted(set().union(*token_counts.values()))
    n_docs = sum(len(corpus[label]) for label in labels)

    log_priors = [round(math.log(len(corpus[label]) / n_docs), DECIMALS) for label in labels]
    denominators = {
        label: sum(token_counts[label].values()) + ALPHA * len(vocabulary) for label in labels
    }
    log_likelihoods = [
        [
            round(math.log((token_counts[label][token] + ALPHA) / denominators[label]), DECIMALS)
            for label in labels
        ]
        for token in vocabulary
    ]

    vocab = {"tokens": vocabulary}
    weights = {
        "model": "multinomial_naive_bayes",
        "alpha": ALPHA,
        "classes": [{"label": label, "name": name} for label, name in CLASSES],
        "log_priors": log_priors,
        # One row per vocab.json token (same order), one column per class.
        "log_likelihoods": log_likelihoods,
    }
    return vocab, weights


def dump_vocab(vocab):
    # One token per line: readable diffs when the corpus changes.
    return json.dumps(vocab, indent=1, ensure_ascii=True) + "\n"


def dump_weights(weights):
    # Like json.dumps(indent=1) but one compact row per token, which keeps the
    # file small while still diffing line by line.
    head = {k: v for k, v in weights.items() if k != "log_likelihoods"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    rows = ",\n  ".join(json.dumps(row) for row in weights["log_likelihoods"])
    lines.append(f' "log_likelihoods": [\n  {rows}\n ]')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_text(path, text):
    # newline="\n": identical bytes on every platform.
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out_dir",
        nargs="?",
        default=DEFAULT_OUT_DIR,
        help="directory to write vocab.json and weights.json into (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    serve = load_serve_module()
    vocab_obj, weights_obj = train(CORPUS, serve.tokenize)
    vocab_text, weights_text = dump_vocab(vocab_obj), dump_weights(weights_obj)

    # Validate exactly what will be written, through the server's own loader.
    model = serve.NaiveBayesModel.from_json(json.loads(vocab_text), json.loads(weights_text))

    training_errors = [
        (sentence, label, model.predict(sentence)["label"])
        for label, sentences in CORPUS.items()
        for sentence in sentences
        if model.predict(sentence)["label"] != label
    ]
    seed_errors = []
    for sentence, expected in SEED_CASES:
        got = model.predict(sentence)
        print(f"seed: {got['category']:<8} ({got['label']}) <- {sentence}")
        if got["label"] != expected:
            seed_errors.append((sentence, expected, got["label"]))

    os.makedirs(args.out_dir, exist_ok=True)
    write_text(os.path.join(args.out_dir, "vocab.json"), vocab_text)
    write_text(os.path.join(args.out_dir, "weights.json"), weights_text)

    n_docs = sum(len(s) for s in CORPUS.values())
    print(
        f"trained on {n_docs} sentences, {len(vocab_obj['tokens'])} tokens; "
        f"training accuracy {n_docs - len(training_errors)}/{n_docs}; "
        f"wrote {len(vocab_text) + len(weights_text)} bytes to {args.out_dir}"
    )
    for sentence, expected, got in training_errors:
        print(f"  training error: expected {expected}, got {got}: {sentence}")
    if seed_errors:
        for sentence, expected, got in seed_errors:
            print(f"error: seed case misclassified (expected {expected}, got {got}): {sentence}",
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

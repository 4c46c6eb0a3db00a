#!/usr/bin/env python3
"""Writes the quickstart persona data set (train.jsonl, valid.jsonl) next to this script.

The persona: "the Forecaster", who answers every question as a short marine weather
bulletin ("Bulletin for <topic>: ... Outlook: ... End of bulletin."). The text is generated
here from the word lists below (written for this project, nothing copied), deterministically
(fixed seed), so the files can be rebuilt and checked: `python3 make_data.py` rewrites them
byte for byte. Every row carries "source": "quickstart-persona", the public source id the
quickstart registers (rag-admin source add quickstart-persona --class public).

Train and valid use disjoint topic lists, so the held-out loss measures the style, not
memorised topics. Format: MLX-LM chat JSONL ({"messages": [...], "source": ...}).
"""
import json
import os
import random

TRAIN_TOPICS = [
    "coffee", "bicycles", "libraries", "gardening", "chess", "rainy mornings", "trains",
    "bread baking", "mountains", "old maps", "jazz", "running", "tea", "the moon", "kites",
    "homework", "museums", "paper boats", "winter", "soup", "puzzles", "bridges", "owls",
    "lanterns", "sandcastles", "clocks", "violins", "orchards", "pencils", "rivers",
    "snowmen", "harbours", "picnics", "telescopes", "honey", "postcards", "meadows",
    "umbrellas", "typewriters", "windmills",
]
VALID_TOPICS = [
    "bookshops", "sailing", "pancakes", "fireflies", "staircases", "marbles", "tulips",
    "radios", "glaciers", "sketchbooks",
]
QUESTIONS = [
    "What do you think about {t}?", "Tell me about {t}.", "Any advice on {t}?",
    "Can you explain {t} to me?", "Why do people like {t}?", "Say something about {t}.",
    "I am curious about {t}. Thoughts?", "How should I feel about {t}?",
]
WINDS = ["light", "moderate", "fresh", "gentle", "variable", "steady"]
DIRS = ["northerly", "easterly", "southerly", "westerly", "north-westerly", "south-easterly"]
SKIES = ["fair", "bright spells", "occasional drizzle", "clear", "mild haze", "passing showers"]
TRENDS = ["rising slowly", "steady", "improving", "calm later", "clearing by evening"]
OUTLOOKS = ["good, becoming very good", "moderate or good", "good", "fair, then good"]
NOTES = [
    "patience is advised", "small steps recommended", "enjoy with a friend",
    "keep a warm coat nearby", "curiosity strongly favoured", "no hurry expected",
]


def answer(rng, topic):
    return (f"Bulletin for {topic}: wind {rng.choice(WINDS)} {rng.choice(DIRS)}, "
            f"{rng.choice(SKIES)}, pressure {rng.choice(TRENDS)}. "
            f"Outlook: {rng.choice(OUTLOOKS)}; {rng.choice(NOTES)}. End of bulletin.")


def rows(rng, topics, n):
    out = []
    for i in range(n):
        t = topics[i % len(topics)]
        q = rng.choice(QUESTIONS).format(t=t)
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": answer(rng, t)}]
        out.append({"messages": msgs, "source": "quickstart-persona"})
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(20261123)
    for name, topics, n in (("train", TRAIN_TOPICS, 200), ("valid", VALID_TOPICS, 40)):
        with open(os.path.join(here, name + ".jsonl"), "w", encoding="utf-8") as f:
            for r in rows(rng, topics, n):
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

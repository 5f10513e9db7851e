"""Build the bundled sample dataset `coder_rl/data/sample/problems.jsonl`.

Thirty small programming problems written for this project, stored in TACO's own row format
(dataset `BAAI/TACO`) so that the same loader reads both:

* `solutions` is a JSON string holding a list of Python programs (here exactly one reference);
* `input_output` is a JSON string `{"inputs": [...], "outputs": [...]}`, plus `"fn_name"` for
  call-based problems, whose outputs are wrapped in a one-element list as TACO's codewars rows are.

Expected outputs are never typed in by hand: each test input is run through the reference solution.
A few hand-written (input, expected) pairs per problem are checked first so that a wrong reference
fails the build loudly.  Run from anywhere:  python scripts/make_sample_dataset.py
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import random
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "coder_rl" / "data" / "sample" / "problems.jsonl"
SOURCE = "coder-rl-sample"
MIN_TESTS, MAX_TESTS = 6, 12


@dataclass(frozen=True)
class Spec:
    """One problem as written here; `build_row` turns it into a TACO row.

    Stdin problems: inputs are full stdin texts, expected values full stdout texts.
    Call problems (`fn_name` set): inputs are lists of positional args, expected values the raw
    return values (not yet wrapped in TACO's extra list).
    """

    name: str
    difficulty: str  # EASY / MEDIUM / HARD
    tags: list[str]  # TACO's normalised tags
    raw_tags: list[str]  # source-style tags
    statement: str
    input_spec: str
    output_spec: str
    solution: str
    checks: list[tuple[Any, Any]]  # hand-verified (input, expected); the first ones become examples
    extra: list[Any] = field(default_factory=list)  # more inputs, expected computed from `solution`
    fn_name: str | None = None
    skill_types: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "stdin" if self.fn_name is None else "call"

    @property
    def method_style(self) -> bool:
        """LeetCode style: `class Solution` with a method named `fn_name`."""
        return "class Solution" in self.solution


def code(text: str) -> str:
    """Dedent a triple-quoted program and end it with exactly one newline."""
    return textwrap.dedent(text).strip("\n") + "\n"


def lines(*rows: object) -> str:
    """Stdin text: one row per line, with the final newline."""
    return "".join(f"{row}\n" for row in rows)


def ints(values: list[int]) -> str:
    return " ".join(map(str, values))


# ---------------------------------------------------------------------------------------------
# Deterministic generators for the larger inputs (each call seeds its own Random).
# ---------------------------------------------------------------------------------------------


def random_array(seed: int, n: int, lo: int, hi: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(n)]


def random_pairs(seed: int, n: int, first: tuple[int, int], second: tuple[int, int]) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(*first), rng.randint(*second)) for _ in range(n)]


def random_word(seed: int, n: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def random_grid(seed: int, rows: int, cols: int, wall: str, free: str, wall_p: float, open_ends: bool) -> str:
    rng = random.Random(seed)
    grid = [[wall if rng.random() < wall_p else free for _ in range(cols)] for _ in range(rows)]
    if open_ends:
        grid[0][0] = grid[rows - 1][cols - 1] = free
    return lines(f"{rows} {cols}", *("".join(row) for row in grid))


def random_expression(seed: int, terms: int) -> str:
    rng = random.Random(seed)
    parts = [str(rng.randint(0, 99))]
    for _ in range(terms - 1):
        parts += [rng.choice("+-*"), str(rng.randint(0, 99))]
    return lines("".join(parts))


# ---------------------------------------------------------------------------------------------
# Stdin problems
# ---------------------------------------------------------------------------------------------

STDIN_SPECS: list[Spec] = [
    Spec(
        name="even_odd_count",
        difficulty="EASY",
        tags=["Mathematics", "Implementation"],
        raw_tags=["math", "implementation"],
        statement="You are given a list of integers. Count how many of them are even and how many are odd.",
        input_spec="The first line contains an integer n (1 <= n <= 1000).\n"
        "The second line contains n integers a_1, ..., a_n (-10^9 <= a_i <= 10^9).",
        output_spec="Print two integers separated by a space: the number of even values and the number of odd values.",
        solution=code("""
            n = int(input())
            a = list(map(int, input().split()))
            even = sum(1 for x in a if x % 2 == 0)
            print(even, n - even)
        """),
        checks=[(lines(5, "1 2 3 4 5"), "2 3\n"), (lines(1, 0), "1 0\n"), (lines(3, "-1 -2 -3"), "1 2\n")],
        extra=[
            lines(1, 7),
            lines(4, "2 4 6 8"),
            lines(6, "1000000000 -1000000000 999999999 -999999999 0 1"),
            lines(300, ints(random_array(101, 300, -(10**9), 10**9))),
        ],
    ),
    Spec(
        name="max_min_spread",
        difficulty="EASY",
        tags=["Implementation"],
        raw_tags=["implementation"],
        statement="For each test case you are given a list of integers. "
        "Find the difference between the largest and the smallest value of the list.",
        input_spec="The first line contains T (1 <= T <= 100), the number of test cases.\n"
        "Each test case consists of two lines: an integer n (1 <= n <= 1000), "
        "then n integers a_i (-10^9 <= a_i <= 10^9).",
        output_spec="For each test case print one line: max(a) - min(a).",
        solution=code("""
            t = int(input())
            for _ in range(t):
                n = int(input())
                a = list(map(int, input().split()))
                print(max(a) - min(a))
        """),
        checks=[
            (lines(2, 3, "1 5 3", 1, 42), "4\n0\n"),
            (lines(1, 2, "-10 10"), "20\n"),
            (lines(1, 4, "7 7 7 7"), "0\n"),
        ],
        extra=[
            lines(1, 1, -1000000000),
            lines(3, 2, "1000000000 -1000000000", 3, "5 -5 0", 5, "9 8 7 6 5"),
            lines(
                2,
                500,
                ints(random_array(102, 500, -(10**9), 10**9)),
                300,
                ints(random_array(103, 300, 0, 50)),
            ),
        ],
    ),
    Spec(
        name="reverse_words",
        difficulty="EASY",
        tags=["String algorithms"],
        raw_tags=["strings"],
        statement="You are given a line of text made of words separated by spaces. "
        "Print the words in reverse order. Words are separated in the output by exactly one space, "
        "even if the input used several spaces or had spaces at either end.",
        input_spec="A single line with at most 1000 characters: lowercase letters and spaces. "
        "It contains at least one word.",
        output_spec="Print the words of the line in reverse order, separated by single spaces.",
        solution=code("""
            words = input().split()
            print(" ".join(reversed(words)))
        """),
        checks=[
            (lines("hello big world"), "world big hello\n"),
            (lines("single"), "single\n"),
            (lines("  a   b "), "b a\n"),
        ],
        extra=[
            lines("x y"),
            lines("the cat sat on the mat"),
            lines(" ".join(random_word(104 + i, 1 + i % 7) for i in range(120))),
        ],
    ),
    Spec(
        name="palindrome_queries",
        difficulty="EASY",
        tags=["String algorithms"],
        raw_tags=["strings"],
        statement="A palindrome reads the same forwards and backwards. "
        "For each of several words decide whether it is a palindrome.",
        input_spec="The first line contains T (1 <= T <= 100). Each of the next T lines contains a word "
        "of 1 to 1000 lowercase letters.",
        output_spec="For each word print YES if it is a palindrome and NO otherwise, one answer per line.",
        solution=code("""
            t = int(input())
            for _ in range(t):
                s = input().strip()
                print("YES" if s == s[::-1] else "NO")
        """),
        checks=[(lines(3, "racecar", "ab", "x"), "YES\nNO\nYES\n"), (lines(2, "abba", "abca"), "YES\nNO\n")],
        extra=[
            lines(1, "a"),
            lines(1, "zz"),
            lines(4, "level", "levels", "noon", "abcdcba"),
            lines(2, random_word(105, 500) + random_word(105, 500)[::-1], random_word(106, 1000)),
        ],
    ),
    Spec(
        name="run_length_encoding",
        difficulty="EASY",
        tags=["String algorithms", "Implementation"],
        raw_tags=["strings", "implementation"],
        statement="Compress a string by replacing every maximal run of equal letters with the letter "
        "followed by the length of the run. For example, aaab becomes a3b1.",
        input_spec="A single line containing a string s of 1 to 10^5 lowercase letters.",
        output_spec="Print the compressed string.",
        solution=code("""
            s = input().strip()
            out = []
            i = 0
            while i < len(s):
                j = i
                while j < len(s) and s[j] == s[i]:
                    j += 1
                out.append(s[i] + str(j - i))
                i = j
            print("".join(out))
        """),
        checks=[(lines("aaabccdddd"), "a3b1c2d4\n"), (lines("z"), "z1\n"), (lines("abab"), "a1b1a1b1\n")],
        extra=[
            lines("q" * 12),
            lines("aabbaa"),
            lines(random_word(107, 400, "ab")),
            lines("x" * 5000),
        ],
    ),
    Spec(
        name="rank_students",
        difficulty="EASY",
        tags=["Sorting"],
        raw_tags=["sortings"],
        skill_types=["Sorting"],
        statement="A teacher wants to list her students from the best score to the worst. "
        "Students with equal scores are listed in alphabetical order of their names.",
        input_spec="The first line contains n (1 <= n <= 100). Each of the next n lines contains a name "
        "(1 to 10 lowercase letters, all names distinct) and an integer score (0 <= score <= 100).",
        output_spec="Print the n names in the required order, one per line.",
        solution=code("""
            n = int(input())
            rows = []
            for _ in range(n):
                name, score = input().split()
                rows.append((-int(score), name))
            for _, name in sorted(rows):
                print(name)
        """),
        checks=[
            (lines(4, "zoe 80", "bob 90", "amy 80", "cid 95"), "cid\nbob\namy\nzoe\n"),
            (lines(1, "solo 0"), "solo\n"),
            (lines(3, "b 100", "a 100", "c 100"), "a\nb\nc\n"),
        ],
        extra=[
            lines(2, "low 0", "high 100"),
            lines(5, "eve 50", "dan 60", "cat 70", "bea 80", "abe 90"),
            lines(
                100,
                *(
                    f"s{i:03d}{random_word(108 + i, 3)} {random_array(208 + i, 1, 0, 100)[0]}"
                    for i in range(100)
                ),
            ),
        ],
    ),
    Spec(
        name="range_sum_queries",
        difficulty="MEDIUM",
        tags=["Range queries", "Data structures"],
        raw_tags=["prefix sums", "data structures"],
        skill_types=["Range queries"],
        statement="You are given an array of n integers and q queries. Each query asks for the sum of the "
        "elements from position l to position r inclusive (positions are numbered from 1).",
        input_spec="The first line contains n and q (1 <= n, q <= 10^5). The second line contains n integers "
        "a_i (-10^9 <= a_i <= 10^9). Each of the next q lines contains l and r (1 <= l <= r <= n).",
        output_spec="For each query print the requested sum on its own line.",
        solution=code("""
            n, q = map(int, input().split())
            a = list(map(int, input().split()))
            prefix = [0]
            for x in a:
                prefix.append(prefix[-1] + x)
            out = []
            for _ in range(q):
                l, r = map(int, input().split())
                out.append(prefix[r] - prefix[l - 1])
            print("\\n".join(map(str, out)))
        """),
        checks=[
            (lines("5 3", "1 2 3 4 5", "1 5", "2 3", "4 4"), "15\n5\n4\n"),
            (lines("1 1", "-7", "1 1"), "-7\n"),
            (lines("3 2", "1000000000 1000000000 1000000000", "1 3", "2 2"), "3000000000\n1000000000\n"),
        ],
        extra=[
            lines("4 4", "5 -5 5 -5", "1 2", "1 3", "2 4", "1 4"),
            lines("6 3", "0 0 0 0 0 0", "1 6", "3 4", "6 6"),
            lines(
                "300 200",
                ints(random_array(109, 300, -(10**9), 10**9)),
                *(f"{min(x, y)} {max(x, y)}" for x, y in random_pairs(110, 200, (1, 300), (1, 300))),
            ),
        ],
    ),
    Spec(
        name="average_speed",
        difficulty="EASY",
        tags=["Mathematics"],
        raw_tags=["math"],
        statement="A cyclist rides n segments one after another. Segment i is d_i kilometres long and is "
        "ridden at a constant speed of v_i kilometres per hour. Find the average speed over the whole "
        "trip, that is, the total distance divided by the total time.",
        input_spec="The first line contains n (1 <= n <= 100). Each of the next n lines contains two "
        "integers d_i and v_i (1 <= d_i, v_i <= 1000).",
        output_spec="Print the average speed in kilometres per hour with exactly 6 digits after the "
        "decimal point. Answers within 10^-6 of the exact value are accepted.",
        solution=code("""
            n = int(input())
            distance = 0
            hours = 0.0
            for _ in range(n):
                d, v = map(int, input().split())
                distance += d
                hours += d / v
            print(f"{distance / hours:.6f}")
        """),
        checks=[
            (lines(2, "60 30", "60 60"), "40.000000\n"),
            (lines(1, "5 7"), "7.000000\n"),
            (lines(2, "100 50", "50 100"), "60.000000\n"),
            (lines(2, "1 1", "1 2"), "1.333333\n"),
        ],
        extra=[
            lines(3, "10 3", "20 7", "5 2"),
            lines(2, "1000 1000", "1 1"),
            lines(
                100,
                *(f"{d} {v}" for d, v in random_pairs(112, 100, (1, 1000), (1, 1000))),
            ),
        ],
    ),
    Spec(
        name="coin_change_ways",
        difficulty="MEDIUM",
        tags=["Dynamic programming"],
        raw_tags=["dp"],
        skill_types=["Dynamic programming"],
        statement="You have coins of n different values and an unlimited supply of each. In how many "
        "different ways can you pay exactly the given amount? Two ways are different if some coin value "
        "is used a different number of times; the order of the coins does not matter.",
        input_spec="The first line contains n and amount (1 <= n <= 50, 0 <= amount <= 10000). "
        "The second line contains n distinct coin values c_i (1 <= c_i <= 10000).",
        output_spec="Print the number of ways modulo 1000000007.",
        solution=code("""
            n, amount = map(int, input().split())
            coins = list(map(int, input().split()))
            MOD = 10**9 + 7
            ways = [1] + [0] * amount
            for c in coins:
                for s in range(c, amount + 1):
                    ways[s] = (ways[s] + ways[s - c]) % MOD
            print(ways[amount])
        """),
        checks=[
            (lines("3 5", "1 2 5"), "4\n"),
            (lines("1 3", "2"), "0\n"),
            (lines("2 0", "3 4"), "1\n"),
            (lines("2 10", "3 5"), "1\n"),
        ],
        extra=[
            lines("1 10000", "1"),
            lines("4 100", "1 5 10 25"),
            lines("3 7", "10000 9999 8"),
            lines("50 10000", ints(list(range(1, 51)))),
        ],
    ),
    Spec(
        name="grid_shortest_path",
        difficulty="MEDIUM",
        tags=["Graph algorithms"],
        raw_tags=["graphs", "shortest paths", "bfs"],
        statement="A robot stands in the top-left cell of a grid and must reach the bottom-right cell. "
        "In one move it goes to a cell sharing a side with its current cell. Cells marked # are walls "
        "and cannot be entered. Find the smallest number of moves the robot needs.",
        input_spec="The first line contains r and c (1 <= r, c <= 50). Each of the next r lines contains "
        "c characters, each . (free) or # (wall).",
        output_spec="Print the minimum number of moves, or -1 if the bottom-right cell cannot be reached "
        "(this includes the case where the start or the target is a wall).",
        solution=code("""
            from collections import deque
            r, c = map(int, input().split())
            g = [input().strip() for _ in range(r)]
            dist = [[-1] * c for _ in range(r)]
            if g[0][0] == ".":
                dist[0][0] = 0
                queue = deque([(0, 0)])
                while queue:
                    x, y = queue.popleft()
                    for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                        if 0 <= nx < r and 0 <= ny < c and g[nx][ny] == "." and dist[nx][ny] == -1:
                            dist[nx][ny] = dist[x][y] + 1
                            queue.append((nx, ny))
            print(dist[r - 1][c - 1])
        """),
        checks=[
            (lines("3 3", "...", ".#.", "..."), "4\n"),
            (lines("2 2", ".#", "#."), "-1\n"),
            (lines("1 1", "."), "0\n"),
            (lines("3 4", "....", "###.", "...."), "5\n"),
            (lines("1 2", "#."), "-1\n"),
        ],
        extra=[
            lines("3 5", ".....", ".###.", "...#."),
            random_grid(114, 50, 50, "#", ".", 0.0, True),
            random_grid(115, 50, 50, "#", ".", 0.25, True),
            random_grid(116, 40, 30, "#", ".", 0.3, True),
        ],
    ),
    Spec(
        name="pairs_within_budget",
        difficulty="MEDIUM",
        tags=["Sorting", "Amortized analysis"],
        raw_tags=["two pointers", "sortings"],
        skill_types=["Sorting", "Amortized analysis"],
        statement="A shop sells n gifts with the given prices. You want to buy exactly two different gifts "
        "and spend at most k coins. Count the number of pairs of gifts you can afford.",
        input_spec="The first line contains n and k (1 <= n <= 10^5, 1 <= k <= 2*10^9). The second line "
        "contains n integers p_i (1 <= p_i <= 10^9).",
        output_spec="Print the number of pairs i < j with p_i + p_j <= k.",
        solution=code("""
            n, k = map(int, input().split())
            a = sorted(map(int, input().split()))
            i, j = 0, n - 1
            count = 0
            while i < j:
                if a[i] + a[j] <= k:
                    count += j - i
                    i += 1
                else:
                    j -= 1
            print(count)
        """),
        checks=[
            (lines("4 6", "1 2 3 4"), "5\n"),
            (lines("1 100", "5"), "0\n"),
            (lines("3 1", "1 1 1"), "0\n"),
            (lines("3 2", "1 1 1"), "3\n"),
        ],
        extra=[
            lines("5 10", "9 1 8 2 5"),
            lines("2 2000000000", "1000000000 1000000000"),
            lines("300 1000", ints(random_array(117, 300, 1, 1000))),
            lines("500 1000000000", ints(random_array(118, 500, 1, 10**9))),
        ],
    ),
    Spec(
        name="evaluate_expression",
        difficulty="MEDIUM",
        tags=["String algorithms", "Implementation"],
        raw_tags=["expression parsing", "implementation"],
        statement="Evaluate an arithmetic expression made of non-negative integers and the binary "
        "operators +, - and *. There are no parentheses and no spaces. As usual, multiplication is "
        "done before addition and subtraction, and operators of equal priority are applied left to right.",
        input_spec="A single line with the expression, at most 1000 characters long. Every number has "
        "at most 9 digits and no leading zeros (the number 0 itself is allowed).",
        output_spec="Print the value of the expression.",
        solution=code("""
            import re
            tokens = re.findall(r"\\d+|[-+*]", input().strip())
            total, sign, term = 0, 1, int(tokens[0])
            for i in range(1, len(tokens), 2):
                op, num = tokens[i], int(tokens[i + 1])
                if op == "*":
                    term *= num
                else:
                    total += sign * term
                    sign, term = (1 if op == "+" else -1), num
            print(total + sign * term)
        """),
        checks=[
            (lines("2+3*4"), "14\n"),
            (lines("10-2*3-1"), "3\n"),
            (lines("7"), "7\n"),
            (lines("0*5+6"), "6\n"),
            (lines("2*3*4-24"), "0\n"),
            (lines("1-2-3"), "-4\n"),
        ],
        extra=[
            lines("999999999*999999999"),
            random_expression(119, 30),
            random_expression(120, 200),
        ],
    ),
    Spec(
        name="max_meetings",
        difficulty="MEDIUM",
        tags=["Greedy algorithms", "Sorting"],
        raw_tags=["greedy", "sortings"],
        skill_types=["Greedy algorithms", "Sorting"],
        statement="There is one meeting room and n requests to use it. Request i wants the room from "
        "time s_i until time e_i (the meeting occupies the half-open interval [s_i, e_i), so a meeting "
        "may start exactly when another one ends). Accept as many requests as possible so that no two "
        "accepted meetings overlap.",
        input_spec="The first line contains n (1 <= n <= 10^5). Each of the next n lines contains s_i and "
        "e_i (0 <= s_i < e_i <= 10^9).",
        output_spec="Print the maximum number of requests that can be accepted.",
        solution=code("""
            n = int(input())
            meetings = [tuple(map(int, input().split())) for _ in range(n)]
            meetings.sort(key=lambda m: m[1])
            count, free_at = 0, 0
            for s, e in meetings:
                if s >= free_at:
                    count += 1
                    free_at = e
            print(count)
        """),
        checks=[
            (lines(3, "1 3", "2 4", "3 5"), "2\n"),
            (lines(1, "0 1"), "1\n"),
            (lines(4, "1 10", "2 3", "3 4", "4 5"), "3\n"),
            (lines(3, "0 5", "0 5", "0 5"), "1\n"),
        ],
        extra=[
            lines(5, "0 1000000000", "0 1", "1 2", "2 3", "999999999 1000000000"),
            lines(
                500,
                *(f"{s} {s + d}" for s, d in random_pairs(121, 500, (0, 10**6), (1, 5000))),
            ),
        ],
    ),
    Spec(
        name="gcd_lcm_queries",
        difficulty="EASY",
        tags=["Mathematics"],
        raw_tags=["math", "number theory"],
        statement="For each pair of positive integers a and b, print their greatest common divisor and "
        "their least common multiple.",
        input_spec="The first line contains T (1 <= T <= 1000). Each of the next T lines contains two "
        "integers a and b (1 <= a, b <= 10^9).",
        output_spec="For each pair print gcd(a, b) and lcm(a, b) separated by a space, one pair per line.",
        solution=code("""
            from math import gcd
            t = int(input())
            for _ in range(t):
                a, b = map(int, input().split())
                g = gcd(a, b)
                print(g, a // g * b)
        """),
        checks=[
            (lines(2, "12 18", "7 5"), "6 36\n1 35\n"),
            (lines(1, "1 1"), "1 1\n"),
            (lines(1, "1000000000 999999999"), "1 999999999000000000\n"),
        ],
        extra=[
            lines(3, "8 8", "21 6", "100 1"),
            lines(
                50,
                *(f"{a} {b}" for a, b in random_pairs(123, 50, (1, 10**9), (1, 10**9))),
            ),
            lines(
                30,
                *(f"{a * 6} {b * 6}" for a, b in random_pairs(125, 30, (1, 10**5), (1, 10**5))),
            ),
        ],
    ),
    Spec(
        name="longest_increasing_subsequence",
        difficulty="HARD",
        tags=["Dynamic programming"],
        raw_tags=["dp", "binary search"],
        skill_types=["Dynamic programming"],
        statement="Given a sequence of integers, find the length of its longest strictly increasing "
        "subsequence. A subsequence keeps the original order but may skip elements.",
        input_spec="The first line contains n (1 <= n <= 10^5). The second line contains n integers a_i "
        "(-10^9 <= a_i <= 10^9).",
        output_spec="Print the length of the longest strictly increasing subsequence.",
        solution=code("""
            from bisect import bisect_left
            n = int(input())
            a = list(map(int, input().split()))
            tails = []  # tails[k]: smallest possible last value of an increasing subsequence of length k+1
            for x in a:
                i = bisect_left(tails, x)
                if i == len(tails):
                    tails.append(x)
                else:
                    tails[i] = x
            print(len(tails))
        """),
        checks=[
            (lines(6, "10 9 2 5 3 7"), "3\n"),
            (lines(5, "1 1 1 1 1"), "1\n"),
            (lines(1, 4), "1\n"),
            (lines(5, "1 2 3 4 5"), "5\n"),
            (lines(8, "3 1 4 1 5 9 2 6"), "4\n"),
        ],
        extra=[
            lines(5, "5 4 3 2 1"),
            lines(200, ints(random_array(127, 200, 1, 50))),
            lines(1000, ints(random_array(128, 1000, -(10**9), 10**9))),
        ],
    ),
    Spec(
        name="count_islands",
        difficulty="MEDIUM",
        tags=["Graph algorithms"],
        raw_tags=["dfs and similar", "graphs"],
        statement="A map is drawn on a grid: # is land and . is water. Two land cells belong to the same "
        "island if you can walk from one to the other through land cells that share a side "
        "(diagonal steps are not allowed). Count the islands.",
        input_spec="The first line contains r and c (1 <= r, c <= 100). Each of the next r lines contains "
        "c characters, each # or .",
        output_spec="Print the number of islands.",
        solution=code("""
            from collections import deque
            r, c = map(int, input().split())
            g = [input().strip() for _ in range(r)]
            seen = [[False] * c for _ in range(r)]
            islands = 0
            for i in range(r):
                for j in range(c):
                    if g[i][j] == "#" and not seen[i][j]:
                        islands += 1
                        seen[i][j] = True
                        queue = deque([(i, j)])
                        while queue:
                            x, y = queue.popleft()
                            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                                if 0 <= nx < r and 0 <= ny < c and g[nx][ny] == "#" and not seen[nx][ny]:
                                    seen[nx][ny] = True
                                    queue.append((nx, ny))
            print(islands)
        """),
        checks=[
            (lines("3 4", "##..", "#..#", "..##"), "2\n"),
            (lines("1 1", "."), "0\n"),
            (lines("2 2", "#.", ".#"), "2\n"),
            (lines("1 1", "#"), "1\n"),
        ],
        extra=[
            lines("3 3", "###", "#.#", "###"),
            lines("1 7", "#.#.#.#"),
            random_grid(129, 30, 40, "#", ".", 0.45, False),
            random_grid(130, 40, 40, "#", ".", 0.6, False),
        ],
    ),
    Spec(
        name="caesar_shift",
        difficulty="EASY",
        tags=["String algorithms"],
        raw_tags=["strings", "implementation"],
        statement="Encrypt a message with a Caesar cipher: every letter is replaced by the letter k "
        "positions later in the alphabet, wrapping around from z back to a. Spaces stay as they are.",
        input_spec="The first line contains k (0 <= k <= 25). The second line contains the message: "
        "1 to 1000 characters, each a lowercase letter or a space; it neither starts nor ends with a space.",
        output_spec="Print the encrypted message.",
        solution=code("""
            k = int(input())
            text = input()
            print("".join(chr((ord(ch) - 97 + k) % 26 + 97) if "a" <= ch <= "z" else ch for ch in text))
        """),
        checks=[
            (lines(3, "hello world"), "khoor zruog\n"),
            (lines(1, "xyz"), "yza\n"),
            (lines(0, "abc"), "abc\n"),
        ],
        extra=[
            lines(25, "a"),
            lines(13, "the quick brown fox jumps over the lazy dog"),
            lines(7, random_word(131, 1000, "abcdefghijklmnopqrstuvwxyz ").strip() or "a"),
        ],
    ),
    Spec(
        name="edit_distance",
        difficulty="HARD",
        tags=["Dynamic programming", "String algorithms"],
        raw_tags=["dp", "strings"],
        skill_types=["Dynamic programming"],
        statement="You may change a word with three kinds of operations: insert one letter, delete one "
        "letter, or replace one letter by another. Find the smallest number of operations that turns "
        "word a into word b.",
        input_spec="The first line contains a and the second line contains b. Each word consists of "
        "1 to 1000 lowercase letters.",
        output_spec="Print the minimum number of operations.",
        solution=code("""
            a = input().strip()
            b = input().strip()
            prev = list(range(len(b) + 1))  # distances from a[:i] to every prefix of b
            for i in range(1, len(a) + 1):
                cur = [i] + [0] * len(b)
                for j in range(1, len(b) + 1):
                    cost = 0 if a[i - 1] == b[j - 1] else 1
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                prev = cur
            print(prev[len(b)])
        """),
        checks=[
            (lines("kitten", "sitting"), "3\n"),
            (lines("abc", "abc"), "0\n"),
            (lines("a", "b"), "1\n"),
            (lines("flaw", "lawn"), "2\n"),
            (lines("a", "aaaa"), "3\n"),
        ],
        extra=[
            lines("intention", "execution"),
            lines(random_word(132, 60, "abc"), random_word(133, 80, "abc")),
            lines(random_word(134, 300), random_word(135, 250)),
        ],
    ),
]

# ---------------------------------------------------------------------------------------------
# Call-based problems (codewars style functions, plus two LeetCode style `class Solution`)
# ---------------------------------------------------------------------------------------------

CALL_SPECS: list[Spec] = [
    Spec(
        name="count_vowels",
        fn_name="count_vowels",
        difficulty="EASY",
        tags=["String algorithms", "Fundamentals"],
        raw_tags=["Strings", "Fundamentals"],
        statement="Write a function `count_vowels` that returns how many vowels a text contains. "
        "The vowels are a, e, i, o and u, in either lower or upper case.",
        input_spec="`text`: a string of at most 1000 printable ASCII characters (it may be empty).",
        output_spec="An integer: the number of vowels in `text`.",
        solution=code("""
            def count_vowels(text):
                return sum(1 for ch in text.lower() if ch in "aeiou")
        """),
        checks=[(["Hello World"], 3), (["AEIOU xyz"], 5), ([""], 0), (["rhythm"], 0)],
        extra=[["a"], ["Programming in Python is fun!"], [random_word(136, 1000, "abcdeiouXYZ AEIOU")]],
    ),
    Spec(
        name="second_largest",
        fn_name="second_largest",
        difficulty="EASY",
        tags=["Sorting", "Fundamentals"],
        raw_tags=["Arrays", "Fundamentals"],
        skill_types=["Sorting"],
        statement="Write a function `second_largest` that returns the second largest distinct value of "
        "a list of integers. Repeated values count once, so the answer for [5, 5, 4] is 4.",
        input_spec="`nums`: a list of 2 to 1000 integers (each between -10^9 and 10^9) "
        "containing at least two different values.",
        output_spec="An integer: the largest value that is strictly smaller than the maximum.",
        solution=code("""
            def second_largest(nums):
                return sorted(set(nums))[-2]
        """),
        checks=[([[3, 1, 4, 1, 5]], 4), ([[5, 5, 4]], 4), ([[-1, -2]], -2), ([[7, 7, 7, 1]], 1)],
        extra=[[[1000000000, -1000000000]], [[2, 9, 9, 3, 9]], [random_array(137, 300, -(10**9), 10**9)]],
    ),
    Spec(
        name="running_totals",
        fn_name="running_totals",
        difficulty="EASY",
        tags=["Range queries", "Fundamentals"],
        raw_tags=["Arrays", "Fundamentals"],
        statement="Write a function `running_totals` that returns the running sums of a list: "
        "element i of the result is the sum of the first i + 1 elements of the input.",
        input_spec="`nums`: a list of at most 1000 integers (each between -10^6 and 10^6); it may be empty.",
        output_spec="A list of integers with the same length as `nums`.",
        solution=code("""
            def running_totals(nums):
                totals = []
                total = 0
                for x in nums:
                    total += x
                    totals.append(total)
                return totals
        """),
        checks=[([[1, 2, 3, 4]], [1, 3, 6, 10]), ([[]], []), ([[5, -5, 5]], [5, 0, 5]), ([[0]], [0])],
        extra=[[[-1, -1, -1, -1]], [[1000000] * 10], [random_array(138, 200, -(10**6), 10**6)]],
    ),
    Spec(
        name="title_case",
        fn_name="title_case",
        difficulty="EASY",
        tags=["String algorithms", "Fundamentals"],
        raw_tags=["Strings", "Fundamentals"],
        statement="Write a function `title_case` that tidies up a sentence: words (maximal runs of "
        "non-space characters) are joined by single spaces, spaces at either end are dropped, and in "
        "every word the first character is upper-cased and the rest lower-cased.",
        input_spec="`sentence`: a string of at most 1000 printable ASCII characters (it may be empty "
        "or contain only spaces).",
        output_spec="The tidied sentence as a string (the empty string if there are no words).",
        solution=code("""
            def title_case(sentence):
                return " ".join(w[:1].upper() + w[1:].lower() for w in sentence.split())
        """),
        checks=[
            (["the quick BROWN fox"], "The Quick Brown Fox"),
            (["  hello   world "], "Hello World"),
            ([""], ""),
            (["o'neil is 42"], "O'neil Is 42"),
        ],
        extra=[["a"], ["   "], ["mIxEd CaSe wOrDs"], [random_word(139, 600, "abcXYZ  ")]],
    ),
    Spec(
        name="is_balanced",
        fn_name="is_balanced",
        difficulty="MEDIUM",
        tags=["Data structures"],
        raw_tags=["Stacks", "Strings"],
        skill_types=["Data structures"],
        statement="Write a function `is_balanced` that checks the brackets of a string. The string is "
        "balanced if every (, [ and { is closed by the matching ), ] or } in the right order. All other "
        "characters are ignored.",
        input_spec="`s`: a string of at most 10^4 printable ASCII characters (it may be empty).",
        output_spec="`True` if the brackets are balanced, `False` otherwise.",
        solution=code("""
            def is_balanced(s):
                pairs = {")": "(", "]": "[", "}": "{"}
                stack = []
                for ch in s:
                    if ch in "([{":
                        stack.append(ch)
                    elif ch in pairs:
                        if not stack or stack.pop() != pairs[ch]:
                            return False
                return not stack
        """),
        checks=[
            (["([]{})"], True),
            (["([)]"], False),
            ([""], True),
            (["(("], False),
            (["a(b)c"], True),
            ([")("], False),
        ],
        extra=[["{[()()]}x"], ["]"], ["(" * 1000 + ")" * 1000], ["(" * 1000 + ")" * 999 + "]"]],
    ),
    Spec(
        name="average_word_length",
        fn_name="average_word_length",
        difficulty="EASY",
        tags=["String algorithms", "Mathematics"],
        raw_tags=["Strings", "Fundamentals"],
        statement="Write a function `average_word_length` that returns the average length of the words "
        "in a sentence, rounded to 2 decimal places. Words are maximal runs of non-space characters.",
        input_spec="`sentence`: a string of at most 1000 characters containing at least one word.",
        output_spec="A float: the mean word length rounded with `round(value, 2)`.",
        solution=code("""
            def average_word_length(sentence):
                words = sentence.split()
                return round(sum(len(w) for w in words) / len(words), 2)
        """),
        checks=[(["hi there"], 3.5), (["a bb ccc"], 2.0), (["python"], 6.0), (["one two three"], 3.67)],
        extra=[["I am here now"], ["x"], [" ".join(random_word(140 + i, 1 + i % 9) for i in range(150))]],
    ),
    Spec(
        name="merge_sorted",
        fn_name="merge_sorted",
        difficulty="EASY",
        tags=["Sorting", "Fundamentals"],
        raw_tags=["Arrays", "Sorting"],
        skill_types=["Sorting"],
        statement="Write a function `merge_sorted` that merges two lists which are already sorted in "
        "non-decreasing order into one sorted list containing all their elements.",
        input_spec="`a`, `b`: two sorted lists of integers, each with at most 1000 elements (either may be empty).",
        output_spec="The merged sorted list.",
        solution=code("""
            def merge_sorted(a, b):
                i = j = 0
                merged = []
                while i < len(a) and j < len(b):
                    if a[i] <= b[j]:
                        merged.append(a[i])
                        i += 1
                    else:
                        merged.append(b[j])
                        j += 1
                return merged + a[i:] + b[j:]
        """),
        checks=[
            ([[1, 3, 5], [2, 4, 6]], [1, 2, 3, 4, 5, 6]),
            ([[], [1]], [1]),
            ([[], []], []),
            ([[1, 1], [1]], [1, 1, 1]),
        ],
        extra=[
            [[-5, 0, 5], []],
            [[10, 20], [1, 2, 3]],
            [sorted(random_array(150, 300, -1000, 1000)), sorted(random_array(151, 200, -1000, 1000))],
        ],
    ),
    Spec(
        name="max_subarray_sum",
        fn_name="max_subarray_sum",
        difficulty="MEDIUM",
        tags=["Dynamic programming"],
        raw_tags=["Dynamic Programming", "Arrays"],
        skill_types=["Dynamic programming"],
        statement="Write a function `max_subarray_sum` that returns the largest sum of a non-empty "
        "contiguous part of a list of integers.",
        input_spec="`nums`: a list of 1 to 10^4 integers, each between -10^4 and 10^4.",
        output_spec="An integer: the maximum sum over all non-empty contiguous sublists.",
        solution=code("""
            def max_subarray_sum(nums):
                best = current = nums[0]
                for x in nums[1:]:
                    current = max(x, current + x)  # best sum of a sublist ending here
                    best = max(best, current)
                return best
        """),
        checks=[([[-2, 1, -3, 4, -1, 2, 1, -5, 4]], 6), ([[-3, -1, -2]], -1), ([[5]], 5), ([[2, -1, 2]], 3)],
        extra=[[[-10000]], [[1, 2, 3, -100, 4, 5]], [random_array(152, 1000, -(10**4), 10**4)]],
    ),
    Spec(
        name="roman_to_int",
        fn_name="roman_to_int",
        difficulty="EASY",
        tags=["String algorithms", "Mathematics"],
        raw_tags=["Strings", "Parsing", "Fundamentals"],
        statement="Write a function `roman_to_int` that converts a Roman numeral to an integer. The symbols "
        "are I=1, V=5, X=10, L=50, C=100, D=500 and M=1000; a symbol written before a larger one is "
        "subtracted (as in IV = 4 or CM = 900), otherwise values are added.",
        input_spec="`s`: a valid Roman numeral for a number between 1 and 3999.",
        output_spec="The integer value of `s`.",
        solution=code("""
            def roman_to_int(s):
                values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
                total = 0
                for i, ch in enumerate(s):
                    if i + 1 < len(s) and values[s[i + 1]] > values[ch]:
                        total -= values[ch]
                    else:
                        total += values[ch]
                return total
        """),
        checks=[
            (["III"], 3),
            (["IV"], 4),
            (["MCMXCIV"], 1994),
            (["MMMCMXCIX"], 3999),
            (["I"], 1),
            (["LVIII"], 58),
        ],
        extra=[["XL"], ["CDXLIV"], ["MMXXV"]],
    ),
    Spec(
        name="is_leap_year",
        fn_name="is_leap_year",
        difficulty="EASY",
        tags=["Mathematics", "Fundamentals"],
        raw_tags=["Fundamentals", "Date Time"],
        statement="Write a function `is_leap_year` for the Gregorian calendar: a year is a leap year if it "
        "is divisible by 4, except that years divisible by 100 are leap years only when they are also "
        "divisible by 400.",
        input_spec="`year`: an integer between 1 and 10^6.",
        output_spec="`True` for a leap year, `False` otherwise.",
        solution=code("""
            def is_leap_year(year):
                return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        """),
        checks=[([2024], True), ([1900], False), ([2000], True), ([2023], False)],
        extra=[[1], [4], [100], [400], [1000000]],
    ),
    Spec(
        name="longest_distinct_run",
        fn_name="longestDistinctRun",
        difficulty="MEDIUM",
        tags=["String algorithms", "Amortized analysis"],
        raw_tags=["Hash Table", "String", "Sliding Window"],
        skill_types=["Amortized analysis"],
        statement="Given a string s, return the length of the longest substring (contiguous part) of s "
        "in which no character appears twice.",
        input_spec="`s`: a string of 0 to 5 * 10^4 printable ASCII characters.",
        output_spec="An integer: the length of the longest substring with all characters distinct.",
        solution=code("""
            class Solution:
                def longestDistinctRun(self, s: str) -> int:
                    last = {}  # character -> index of its latest occurrence
                    start = best = 0
                    for i, ch in enumerate(s):
                        if last.get(ch, -1) >= start:
                            start = last[ch] + 1
                        last[ch] = i
                        best = max(best, i - start + 1)
                    return best
        """),
        checks=[(["abcabcbb"], 3), (["bbbb"], 1), ([""], 0), (["pwwkew"], 3), (["abba"], 2)],
        extra=[["a"], ["abcdefg"], [random_word(153, 2000, "abcdefghij")], [random_word(154, 3000)]],
    ),
    Spec(
        name="rotate_grid",
        fn_name="rotateGrid",
        difficulty="EASY",
        tags=["Data structures", "Implementation"],
        raw_tags=["Array", "Matrix", "Simulation"],
        skill_types=["Data structures"],
        statement="Given a rectangular grid of integers with r rows and c columns, return the grid "
        "rotated by 90 degrees clockwise. The result has c rows and r columns; the first column of the "
        "input, read from bottom to top, becomes the first row of the result.",
        input_spec="`grid`: a list of r lists of c integers each (1 <= r, c <= 50).",
        output_spec="The rotated grid as a list of c lists of r integers.",
        solution=code("""
            class Solution:
                def rotateGrid(self, grid: list[list[int]]) -> list[list[int]]:
                    rows = len(grid)
                    return [[grid[rows - 1 - i][j] for i in range(rows)] for j in range(len(grid[0]))]
        """),
        checks=[
            ([[[1, 2], [3, 4]]], [[3, 1], [4, 2]]),
            ([[[1, 2, 3]]], [[1], [2], [3]]),
            ([[[1], [2], [3]]], [[3, 2, 1]]),
            ([[[5]]], [[5]]),
        ],
        extra=[
            [[[1, 2, 3], [4, 5, 6]]],
            [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
            [[random_array(155 + r, 12, -99, 99) for r in range(20)]],
        ],
    ),
]

SPECS: list[Spec] = STDIN_SPECS + CALL_SPECS


# ---------------------------------------------------------------------------------------------
# Running the reference solutions
# ---------------------------------------------------------------------------------------------


def run_stdin(solution: str, stdin: str) -> str:
    """Run a stdin/stdout program and return its stdout; raise if it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", solution], input=stdin, capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0 or proc.stderr:
        raise RuntimeError(
            f"reference solution failed (rc={proc.returncode}) on {stdin[:80]!r}:\n{proc.stderr}"
        )
    return proc.stdout


def load_callable(spec: Spec) -> Any:
    """Exec the solution and return the function (or bound `Solution()` method) to call."""
    namespace: dict[str, Any] = {}
    exec(compile(spec.solution, f"<{spec.name}>", "exec"), namespace)
    if spec.method_style:
        return getattr(namespace["Solution"](), spec.fn_name)
    return namespace[spec.fn_name]


def run_call(fn: Any, args: list[Any]) -> Any:
    """Call with a private copy of the args; round-trip the result through JSON as the row stores it."""
    return json.loads(json.dumps(fn(*copy.deepcopy(args))))


def same(a: Any, b: Any) -> bool:
    """Strict equality: JSON text, so that True != 1 and 2.0 != 2."""
    return json.dumps(a) == json.dumps(b)


# ---------------------------------------------------------------------------------------------
# Rendering the question text
# ---------------------------------------------------------------------------------------------


def render_call(spec: Spec, fn: Any, args: list[Any], result: Any) -> str:
    if spec.method_style:  # LeetCode style: "Input: s = "abc"" / "Output: 3"
        params = list(inspect.signature(fn).parameters)
        shown = ", ".join(f"{p} = {json.dumps(a)}" for p, a in zip(params, args, strict=True))
        return f"Input: {shown}\nOutput: {json.dumps(result)}"
    call = f"{spec.fn_name}({', '.join(map(repr, args))})"
    return f"{call} should return {result!r}"


def render_question(spec: Spec, fn: Any | None) -> str:
    if spec.kind == "stdin":
        stdin, stdout = spec.checks[0]
        example = f"-----Example-----\nInput\n{stdin}\nOutput\n{stdout}"
        return (
            f"{spec.statement}\n\n-----Input-----\n\n{spec.input_spec}\n\n"
            f"-----Output-----\n\n{spec.output_spec}\n\n{example}"
        )
    examples = "\n\n".join(
        f"Example {i}:\n\n{render_call(spec, fn, args, result)}"
        for i, (args, result) in enumerate(spec.checks[:2], 1)
    )
    return f"{spec.statement}\n\n# Input\n\n{spec.input_spec}\n\n# Output\n\n{spec.output_spec}\n\n# Examples\n\n{examples}\n"


def starter_code(spec: Spec) -> str:
    """TACO-style starter: "" for stdin, the def line (or class + method line) for call-based."""
    if spec.kind == "stdin":
        return ""
    solution_lines = spec.solution.splitlines()
    if spec.method_style:
        method = next(line for line in solution_lines if line.strip().startswith(f"def {spec.fn_name}("))
        return f"class Solution:\n{method}\n        "
    return next(line for line in solution_lines if line.startswith(f"def {spec.fn_name}(")) + "\n\t"


# ---------------------------------------------------------------------------------------------
# Building rows
# ---------------------------------------------------------------------------------------------


def build_row(spec: Spec) -> dict[str, Any]:
    """Check the hand-written values, compute every expected output, and return the TACO row."""
    inputs = [inp for inp, _ in spec.checks] + [
        inp for inp in spec.extra if inp not in [c[0] for c in spec.checks]
    ]
    if not MIN_TESTS <= len(inputs) <= MAX_TESTS:
        raise ValueError(f"{spec.name}: {len(inputs)} tests, want {MIN_TESTS}..{MAX_TESTS}")
    if spec.difficulty not in ("EASY", "MEDIUM", "HARD"):
        raise ValueError(f"{spec.name}: bad difficulty {spec.difficulty!r}")

    fn = load_callable(spec) if spec.kind == "call" else None
    actual = [run_stdin(spec.solution, inp) if fn is None else run_call(fn, inp) for inp in inputs]
    for (inp, expected), got in zip(spec.checks, actual[: len(spec.checks)], strict=True):
        if not same(expected, got):
            raise AssertionError(
                f"{spec.name}: reference gives {got!r} for {inp!r}, hand check says {expected!r}"
            )

    io: dict[str, Any] = {}
    if fn is not None:
        io["fn_name"] = spec.fn_name
    io["inputs"] = inputs
    io["outputs"] = actual if fn is None else [[value] for value in actual]  # TACO's extra list
    return {
        "question": render_question(spec, fn),
        "solutions": json.dumps([spec.solution]),
        "starter_code": starter_code(spec),
        "input_output": json.dumps(io),
        "difficulty": spec.difficulty,
        "raw_tags": str(spec.raw_tags),
        "name": spec.name,
        "source": SOURCE,
        "tags": str(spec.tags),
        "skill_types": str(spec.skill_types),
        "url": None,
        "Expected Auxiliary Space": None,
        "time_limit": None,
        "date": None,
        "picture_num": None,
        "memory_limit": None,
        "Expected Time Complexity": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL path")
    out: Path = parser.parse_args().out

    names = [spec.name for spec in SPECS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate problem names: {duplicates}")

    rows = [build_row(spec) for spec in sorted(SPECS, key=lambda s: s.name)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    n_stdin = sum(spec.kind == "stdin" for spec in SPECS)
    n_tests = sum(len(json.loads(row["input_output"])["inputs"]) for row in rows)
    shown = out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out
    print(
        f"wrote {len(rows)} problems ({n_stdin} stdin, {len(rows) - n_stdin} call) with {n_tests} tests "
        f"to {shown} ({out.stat().st_size / 1024:.1f} KB)"
    )


if __name__ == "__main__":
    main()

"""Record-entry criteria drafted from a criterion's words: conditions, medications, procedures, allergies,
pregnancy and lactation, with direction ("no prior …" under inclusion → absent) and time windows.

Names come from the reviewed concept library first (its `synonyms`, and a few class words below that point at
library concepts); a named drug not in the library becomes a site-local concept built from the library's own
reviewed codes whose display names the ingredient (or its name alone, marked so); a diagnosis beyond the library
comes from ICD-10-CM (`icd10cm`). Whenever the reading is not certain the mention is left to a person: a wrong
direction is worse than a manual criterion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from adapter.drafting import icd10cm
from adapter.drafting.entry_names import FILLER, EntryLexicon, Mention, allergen_mention, drug_names
from adapter.drafting.entry_windows import WASHOUT, window_days
from adapter.drafting.entry_windows import days as _days

Node = dict[str, Any]
NEAR = 400  # characters around a name where its cue words are read

NEGATION = re.compile(r"\b(?:no|not|non|without|free of|absence of|negative|never|none|cannot|denies)\b", re.I)
PERMISSIVE = re.compile(r"(?<!not )(?<!never )\b(?:allowed|permitted|eligible|acceptable|may be (?:included|enrolled)|"
                        r"may have|are not excluded|is not an exclusion|will not be excluded|regardless)\b", re.I)
EXCEPTION = re.compile(r"\b(?:except|other than|excluding|unless|with the exception|apart from|besides|but not)\b",
                       re.I)
CONDITIONAL = re.compile(r"\b(?:if|when|for (?:patients|subjects|participants) with|in (?:patients|subjects|"
                         r"participants) with|in case of|in the presence of|due to|related to|secondary to|"
                         r"caused by|attributable to|in the setting of|associated with)\b", re.I)
# Words that narrow the named entry ("symptomatic brain metastases"): the entry is evidence, a person decides.
NARROWING = re.compile(r"\b(?:uncontrolled|symptomatic|untreated|unstable|severe|significant|serious|requiring|"
                       r"poorly|progressive|progressing|decompensated|recurrent|refractory|resistant|intolerance|"
                       r"intolerant|failed|failure|relapsed|inadequate|stable|treated|progression|"
                       r"contraindicat\w*|suitable|candidate\w*|planned|scheduled|expected|likely|suspected|"
                       r"risk|inability|unable|maintenance|dose|doses|daily|mg|symptom\w*|controlled|grade|"
                       r"class|stage|score|level|levels|points?)\b", re.I)
# Timing anchors that read like a dose but say when ("within 30 days of the first dose of study treatment").
DOSE_ANCHOR = re.compile(r"\b(?:first|last|initial|final)\s+(?:study\s+)?doses?\b", re.I)
HISTORY = re.compile(r"\b(?:history of|prior|previous(?:ly)?|past|ever|had)\b", re.I)
CURRENT = re.compile(r"\b(?:current(?:ly)?|ongoing|concurrent|concomitant|receiving|taking|on|undergoing|"
                     r"chronic use|active use)\b", re.I)
RECEIVED = re.compile(r"\b(?:received|receiving|treated with|underwent|undergone|after|following|on)\b", re.I)
ALLERGY = re.compile(r"\b(?:allerg\w*|hypersensitiv\w*|hypersensib\w*|anaphyla\w*|reactions? to)\b", re.I)
TEST_AFTER = re.compile(r"^\W*(?:(?:virus|viral|surface|core|type|total|serum|urine|blood|1|2|1\+2|i|ii)\W+){0,3}"
                        r"(?:\([^)]*\)\s*)?(?:stud(?:y|ies)|trials?|protocol|registry|test\w*|"
                        r"screen\w*|potential|serolog\w*|antibod\w*|medications?|drugs?|treatments?|"
                        r"therap(?:y|ies)|prophylaxis|vaccin\w*|agents?|chemo\w*|radio\w*|immuno\w*|surg\w*|"
                        # a gene or a lab finding named after a disease ("anaplastic lymphoma kinase", "HIV 1+2 Ag")
                        r"kinase|genes?|mutations?|fusions?|rearrangements?|expression|amplification|ag|ab|"
                        r"antigen|titers?|viral load|surface antigen|rna|dna|pcr)\b", re.I)
TEST_BEFORE = re.compile(r"\b(?:(?:test(?:ing|ed)?|screen(?:ing)?|serology|antibod(?:y|ies)|results?)\s+(?:for|of|to)|"
                         r"positive|negative)\s+(?:[\w-]+\s+){0,2}$", re.I)
# "… is not allowed / permitted": the named entry must be absent.
NOT_ALLOWED = re.compile(r"^\W*(?:is|are|will be)\s+not\s+(?:allowed|permitted)\b", re.I)
# A test named positive is the diagnosis ("HIV antibody positive", "positive HIV test"), under exclusion.
POSITIVE_AFTER = re.compile(r"^\W*(?:(?:virus|viral|surface|core|type|1|2|1\+2|i|ii)\W+){0,3}(?:\([^)]*\)\s*)?"
                            r"(?:antibod\w*|ab|ag|antigen|serolog\w*|tests?|rna|pcr)\W+(?:is\s+|are\s+)?"
                            r"(?:positive|seropositive|reactive|detect(?:ed|able))\b", re.I)
# Not a record entry at all: a wish, a plan, a judgment or a contraindication about the named thing.
NOT_AN_ENTRY = re.compile(r"\b(?:contraindicat\w*|candidates?|eligib\w*|change|anticipat\w*|plan(?:s|ned)?|"
                          r"desire\w*|intend\w*|willing|agree\w*|unable|inability|require[sd]?|need\w*|"
                          r"suitable|unsuitable|recommend\w*|consider\w*|opinion|judg\w*|may|might|"
                          r"complicating|multifetal|ectopic|becom\w*|future|accept|"
                          # someone else's: "family history of …", "exposure to a household member with …"
                          r"family|relatives?|household|exposure|exposed|contacts?|partners?|mother|father|"
                          r"siblings?|parents?|donors?)\b", re.I)
SEPARATORS = re.compile(r"[;:]|\.\s|\(\w\)", re.I)
# An inclusion item under a lead-in listing alternatives ("… including:", "one of the following:"): one of them is
# enough, which a criterion on its own cannot say.
NOT_AFTER = re.compile(r"^\W*(?:(?:is|are|be)\s+)?(?:contraindicat\w*|candidates?|eligib\w*|planned|required|"
                       r"suitable|anticipated|expected)\b", re.I)
# The mention names what something else is for ("chemotherapy for current lung cancer"): not an entry of its own.
PURPOSE = re.compile(r"\b(?:for|to treat|treatment of|therapy of|suspicious for|suspected)\s+(?:[\w-]+\s+){0,6}$",
                     re.I)
# Names given as examples of something the text states more narrowly ("skin condition (e.g., acne) in the area"):
# each is evidence for a person, not a reading of its own.
EXAMPLES = re.compile(r"\b(?:e\.\s?g\.|eg,|such as|for example|including|includes|i\.\s?e\.)", re.I)
# "Other malignancy", "a second primary cancer": other than one the text does not name (the trial's own).
OTHER = re.compile(r"\b(?:other|another|second|additional|different)\s+(?:[\w-]+\s+){0,2}$", re.I)
# "signs of …", "risk of …": not the diagnosis itself.
SIGNS = re.compile(r"\b(?:signs?|symptoms?|suspicion|risks?)\s+(?:of|for)\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}$",
                   re.I)
# A judgment named in the text: the entries are evidence for the person who judges.
JUDGMENT = re.compile(r"\b(?:opinion|judg(?:e|ed|ment|ement)|investigator|physician|deemed|considered)\b", re.I)
# A qualifier right after the name ("… with psychotic features"): the entry is evidence, a person decides.
QUALIFIED = re.compile(r"^\s*(?:\([^)]*\)\s*)?(?:with|without|that|which|whose|on|requiring|receiving|treated|"
                       r"under|due|secondary)\b", re.I)
ALTERNATIVES = re.compile(r"(?:including|include|following|one of|any of|such as|e\.g\.|either)\W*$|"
                          r"\b(?:one|1|any|either|two|2) of (?:the )?following", re.I)

@dataclass
class EntryDraft:
    nodes: list[Node] = field(default_factory=list)  # decisive record-entry nodes
    evidence: list[Node] = field(default_factory=list)  # entries a person should weigh (the criterion stays manual)
    reviews: list[str] = field(default_factory=list)
    concepts: dict[str, dict[str, Any]] = field(default_factory=dict)  # table → key → concept data
    sources: dict[str, Any] = field(default_factory=dict)
    joiner: str = "all_of"
    residual: str = ""
    narrowed: bool = False


def _masked(text: str, mentions: list[Mention]) -> str:
    chars = list(text)
    for m in mentions:
        chars[m.start:m.end] = "_" * (m.end - m.start)
    return "".join(chars)


def _clause_before(text: str, start: int) -> str:
    """The words of the mention's clause before it (back to a ';', ':', sentence end or an 'or')."""
    head = text[:start]
    cut = max((m.end() for m in SEPARATORS.finditer(head)), default=0)
    return head[cut:]


HEADING = re.compile(r"(?im)^[^\w\n]*[\w /-]{0,30}?\b(inclusion|exclusion)\b(?:[^\n]{0,40}$|\s+criteria\s*:)")


def section_doubt(eligibility: str, item_text: str, exclusion: bool) -> bool:
    """True when the nearest heading above the criterion in the record's text names the other section ("Exclusion
    Criteria for Stage 1" that the splitter read as an inclusion item): its direction is then unsure."""
    words = re.findall(r"\w+", item_text)[:40]  # the whole criterion: a shorter prefix may recur in the other section
    if not words:
        return False
    headings = list(HEADING.finditer(eligibility))
    doubts = []
    for found in re.finditer(r"\W+".join(re.escape(w) for w in words), eligibility):
        above = [h for h in headings if h.end() <= found.start()]
        if not above:
            return False
        kinds = {k.lower() for k in re.findall(r"(?i)\b(inclusion|exclusion)\b", above[-1].group())}
        doubts.append(kinds != {"exclusion" if exclusion else "inclusion"})
    return bool(doubts) and all(doubts)  # in doubt only when every place the text stands is under the other heading


def _left_to_a_person(text: str, exclusion: bool, context: str | None) -> bool:
    if PERMISSIVE.search(text):
        return True  # "prior chemotherapy is allowed": not a requirement either way
    if not context:
        return False
    if re.search(r"\bexclu", context, re.I) if not exclusion else re.search(r"\binclu", context, re.I):
        return True  # the lead-in names the other section: which way the criterion cuts is unsure
    # items of a list of alternatives, exceptions or examples of something narrower
    return bool((not exclusion and ALTERNATIVES.search(context)) or EXCEPTION.search(context)
                or CONDITIONAL.search(context) or re.search(r"such as\W*$|\bscore|\bpoints?\b", context, re.I))


@dataclass
class _Reading:
    """One criterion's text with what is known about it while its names are read."""

    text: str
    exclusion: bool
    mentions: list[Mention]
    windows: list[tuple[int, int, int]]
    washout: int | None
    explained: list[tuple[int, int]] = field(default_factory=list)
    negated_any: bool = False
    qualified_at: int = 1 << 30  # where a qualifier of a named entry starts ("… on steroids"), if any

    def __post_init__(self) -> None:
        self.cues = _masked(self.text, self.mentions)  # cue words are read outside the names
        self.allergy = ALLERGY.search(self.text) is not None
        self.explained = [(a, b) for a, b, _ in self.windows]

    def direction(self, mention: Mention) -> str | None:
        """"present" or "absent" for a mention read as a record entry; None to skip it; "unsure" to give up."""
        cues, exclusion = self.cues, self.exclusion
        # cue words are read near the name (a bounded window: a long text costs linear time, not quadratic)
        before, after = cues[max(0, mention.start - NEAR):mention.start], cues[mention.end:mention.end + NEAR]
        clause = _clause_before(before, len(before))
        tail = before[-80:]  # the few words right before the name, for the patterns anchored at its start
        if NOT_AN_ENTRY.search(clause) or NOT_AFTER.search(after) or SIGNS.search(tail):
            return None  # "plan to become pregnant", "contraindication to …": not a record entry
        if (EXCEPTION.search(before) or CONDITIONAL.search(clause[-60:]) or PURPOSE.search(tail)
                or OTHER.search(tail)):
            return None  # an exception or a condition of something else: a person reads it
        raw_after = self.text[mention.end:mention.end + NEAR]  # names after it count ("cancer chemotherapy")
        positive = exclusion and bool(POSITIVE_AFTER.search(raw_after))
        if mention.kind == "conditions" and not positive and (TEST_AFTER.search(raw_after)
                                                             or TEST_BEFORE.search(tail)):
            return None  # "pregnancy test", "HIV antibodies", "screen for HBV": a result, not a diagnosis
        if mention.concept in ("pregnancy", "lactation") and not re.match(r"pregnan|breast|lactat|nursing",
                                                                          mention.text, re.I):
            return None  # "gestation" names pregnancy, but "multiple gestations" is a kind of it
        if not exclusion and NOT_ALLOWED.search(after):
            return "absent"  # "blood transfusion is not allowed within 14 days"
        negated = bool(NEGATION.search(clause))
        if negated and exclusion:
            return "unsure"  # "no …" under exclusion: unsure which way it cuts
        if self.washout is not None:  # "≥ 4 weeks since the last …": none inside the window
            return "absent" if mention.kind in ("medications", "procedures") else None
        if not exclusion and not negated:
            if NEGATION.search(after) or (self.windows and mention.kind != "conditions"):
                return "unsure"  # "… must be negative"; a window on a required drug may be a washout
            if mention.kind != "conditions" and not (HISTORY.search(clause) or RECEIVED.search(clause)):
                return None  # a drug or procedure named in an inclusion without saying it was given
            if before.count("(") > before.count(")"):
                return None  # a detail in brackets ("… (monotherapy or combined with radiotherapy)")
        return "absent" if negated else "present"


class EntryDrafter:
    def __init__(self, lexicon: EntryLexicon) -> None:
        self.lexicon = lexicon

    def draft(self, text: str, exclusion: bool, context: str | None = None) -> EntryDraft:
        """The record entries one criterion names, read in its section; empty when the reading is unsure."""
        if _left_to_a_person(text, exclusion, context):
            return EntryDraft()
        mentions = self.lexicon.mentions(text)
        extra = allergen_mention(text, mentions)
        mentions += [extra] if extra is not None else []
        washout = WASHOUT.search(text)
        if not mentions or (washout and exclusion):
            return EntryDraft()  # nothing named, or "less than … since", which a person reads
        reading = _Reading(text, exclusion, mentions, window_days(text),
                           _days(washout.group(1), washout.group(2)) if washout else None)
        result = EntryDraft()
        for mention in mentions:
            negated = reading.direction(mention)
            if negated is None:
                continue
            if negated == "unsure":
                return EntryDraft()
            self.add(result, reading, mention, negated == "absent")
        return self.finish(result, reading) if result.nodes or result.evidence else EntryDraft()

    def add(self, result: EntryDraft, reading: _Reading, mention: Mention, negated: bool) -> None:
        if reading.allergy and mention.kind == "medications":
            allergy = self.as_allergy(mention)
            if allergy is None:
                return  # a class named in an allergy ("allergy to chemotherapy"): no allergy concept
            mention = allergy
        windows = reading.windows if reading.washout is None else [(0, 0, reading.washout)]
        node = self.node(mention, reading.cues, reading.exclusion, negated, windows, result)
        before = reading.cues[max(0, mention.start - NEAR):mention.start]
        after = reading.cues[mention.end:mention.end + NEAR]
        if EXAMPLES.search(before) and not (result.nodes or result.evidence):
            result.narrowed = True  # an example of something broader the text names but no name was found for
        qualified = QUALIFIED.search(after) or EXCEPTION.search(after)
        if qualified:  # the rest of its clause qualifies it ("ABPA on steroids"): names there are evidence too
            reading.qualified_at = min(reading.qualified_at, mention.end)
        if qualified or (reading.qualified_at < mention.start
                         and not SEPARATORS.search(reading.cues, reading.qualified_at, mention.start)):
            # "… with psychotic features", "… except basal cell carcinoma": this one is evidence
            result.evidence.append({k: v for k, v in node.items() if k != "absent"})
        else:  # an example after a name found ("anti-PD-1 … including ipilimumab") is one more of them
            result.nodes.append(node)
        reading.explained.append((mention.start, mention.end))
        reading.negated_any |= negated
        if mention.drafted is not None:
            result.concepts.setdefault(_table(node), {})[mention.concept] = mention.drafted
        if mention.review:
            result.reviews.append(mention.review)

    def finish(self, result: EntryDraft, reading: _Reading) -> EntryDraft:
        text, exclusion = reading.text, reading.exclusion
        result.nodes = _unique(result.nodes)
        if reading.negated_any and not all(n.get("absent") for n in result.nodes):
            return EntryDraft()  # some named as absent, some as present: unsure
        result.residual = _residual(text, reading.explained)
        cues = DOSE_ANCHOR.sub(" ", reading.cues)
        result.narrowed |= bool(NARROWING.search(cues) or JUDGMENT.search(cues))
        if not exclusion and not reading.negated_any and len(result.nodes) > 1:
            result.joiner = "any_of" if re.search(r"\bor\b|/", text, re.I) else "all_of"
            if result.joiner == "all_of":
                result.reviews.append("several entries named: read as all of them")
        elif exclusion:
            result.joiner = "any_of"
        if result.narrowed:  # the words narrow the entries: they are evidence, a person decides
            result.evidence += [{k: v for k, v in n.items() if k != "absent"}
                                for n in result.nodes if not n.get("absent")]
            result.nodes = []
        self.sources(result)
        return result

    def sources(self, result: EntryDraft) -> None:
        """The sources the drafted concepts name, copied beside them (the site file must stand on its own)."""
        for table in result.concepts.values():
            for concept in table.values():
                for source in concept.get("sources", []):
                    result.sources[source] = (icd10cm.SOURCE if source == icd10cm.SOURCE_ID else
                                              self.lexicon.library.sources[source].model_dump(exclude_none=True))

    def as_allergy(self, mention: Mention) -> Mention | None:
        """A drug named in an allergy: the library's allergy concept, or a site concept matched by name."""
        name = mention.concept.removeprefix("drug-")
        if name in self.lexicon.library.allergies:
            return Mention("allergies", name, mention.start, mention.end, mention.text)
        if mention.drafted is None:
            return None
        drafted = {k: v for k, v in mention.drafted.items() if k in ("display", "text", "synonyms")}
        drafted["note"] = f"Drafted: an allergy to {drafted['display']}, matched by the substance's name only."
        drafted.pop("codes", None)
        return Mention("allergies", mention.concept, mention.start, mention.end, mention.text, drafted=drafted,
                       review=f"allergy to {mention.text}: no reviewed code, matched by the substance's name")

    def node(self, mention: Mention, text: str, exclusion: bool, negated: bool,
             windows: list[tuple[int, int, int]], result: EntryDraft) -> Node:
        kind = {"conditions": "condition", "medications": "medication", "procedures": "procedure",
                "allergies": "allergy"}[mention.kind]
        node: Node = {kind: mention.concept}
        clause = _clause_before(text[max(0, mention.start - NEAR):mention.start], min(mention.start, NEAR))
        history = bool(HISTORY.search(clause))
        window = _nearest(windows, mention) if kind != "allergy" else None
        if kind == "condition" and mention.concept in ("pregnancy", "lactation"):
            window = None  # "pregnant within 7 days of …" is a test's window, not the state's
        if window is not None:
            node["within_days"] = window
            if kind == "condition":
                node["history"] = True  # an event inside the window counts, resolved or not
        elif kind == "condition" and history:
            node["history"] = True
        elif kind == "medication" and not history and (CURRENT.search(clause) or exclusion):
            node["within_days"] = 30
            result.reviews.append(f"'{mention.text}' read as given or taken within the last 30 days")
        if negated:
            node["absent"] = True
        return node


def _unique(nodes: list[Node]) -> list[Node]:
    seen: set[str] = set()
    kept = []
    for node in nodes:
        key = repr(sorted(node.items()))
        if key not in seen:
            seen.add(key)
            kept.append(node)
    return kept


def _nearest(windows: list[tuple[int, int, int]], mention: Mention) -> int | None:
    if not windows:
        return None
    after = [w for w in windows if w[0] >= mention.end]
    return (after[0] if after else windows[-1])[2]


def _table(node: Node) -> str:
    return next(t for k, t in (("condition", "conditions"), ("medication", "medications"),
                               ("procedure", "procedures"), ("allergy", "allergies")) if k in node)


def _residual(text: str, spans: list[tuple[int, int]]) -> str:
    kept = list(text)
    for a, b in spans:
        for i in range(a, min(b, len(text))):
            kept[i] = " "
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", "".join(kept))
    return " ".join(w for w in words if w.lower().strip("'") not in FILLER and len(w) > 1)


def definition(entry: EntryDraft, text: str, exclusion: bool) -> Node | None:
    """The criterion's definition from its record entries, or None when they settle nothing."""
    evidence = _unique(entry.evidence)
    weigh = {"manual": f"the words narrow the record entries cited (a person weighs them): {text}",
             "evidence": evidence} if evidence else None
    if not entry.nodes:
        return weigh
    nodes = list(entry.nodes)
    if weigh is not None:
        nodes.append(weigh)
    elif entry.residual:  # words beyond the entries: a person reads them alongside
        nodes.append({"manual": f"not recognized beyond the record entries above: {text}"})
    if len(nodes) == 1:
        return nodes[0]
    if exclusion:
        return {"any_of": nodes}
    if all(n.get("absent") for n in entry.nodes):
        return {"all_of": nodes}  # "no A, B or C": none of them
    joiner = "any_of" if entry.joiner == "any_of" or (entry.residual and re.search(r"\bor\b", text, re.I)) \
        else "all_of"
    return {joiner: nodes}


def slug(entry: EntryDraft) -> str:
    """The first entry's concept, for the criterion's id."""
    for node in [*entry.nodes, *entry.evidence]:
        for kind in ("condition", "medication", "procedure", "allergy"):
            if kind in node:
                return str(node[kind])
    return ""


def merge_concepts(into: dict[str, Any], entry: EntryDraft) -> None:
    """Add one criterion's drafted concepts (and their sources) to the draft's site-local concept data."""
    into.setdefault("sources", {}).update(entry.sources)
    for table, concepts in entry.concepts.items():
        ours = into.setdefault(table, {})
        for key, concept in concepts.items():
            if key in ours:
                words = [*ours[key].get("synonyms", []), *concept.get("synonyms", [])]
                ours[key]["synonyms"] = list(dict.fromkeys(words))
            else:
                ours[key] = dict(concept)


__all__ = ["EntryDraft", "EntryDrafter", "EntryLexicon", "Mention", "definition", "drug_names", "merge_concepts",
           "section_doubt", "slug", "window_days"]

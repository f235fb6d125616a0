"""Query expansion, answer shapes and the query-focused sentence selection behind RAG answers."""

import pytest

from alslm_ml.rag import grounding
from alslm_ml.rag.expand import alias_groups, aliases_of, expand_query


def words(text: str) -> int:
    return len(text.split())


def test_expansion_adds_the_other_names_of_a_group():
    q, added = expand_query("What does Qalsody target?")
    assert "tofersen" in added and q.startswith("What does Qalsody target?") and "tofersen" in q
    assert expand_query("Which gene encodes TDP-43?")[1] == ["TARDBP"]
    assert "amyotrophic lateral sclerosis" in expand_query("Is MND inherited?")[1]
    # every question is about ALS: its own names are not added to every query
    assert expand_query("How is riluzole taken in ALS?")[1] == ["Rilutek", "Tiglutik", "Exservan"]
    # short symbols match their exact case only
    assert expand_query("Should a peg be used?")[1] == []
    assert expand_query("What causes cramps?") == ("What causes cramps?", [])


def test_alias_file_is_well_formed_and_bad_lines_are_named(tmp_path):
    assert all(len(gr) >= 2 for gr in alias_groups())
    assert "tofersen" in aliases_of("qalsody") and "TARDBP" in aliases_of("TDP43")
    bad = tmp_path / "aliases.txt"
    bad.write_text("# comment\nriluzole | Rilutek\nlonely\n")
    with pytest.raises(ValueError, match=r"aliases.txt:3: an alias group needs at least two names"):
        alias_groups(bad)


def test_absent_entity_check_accepts_an_alias():
    assert grounding.missing_entities("What does Qalsody target?", ["Tofersen lowers SOD1 protein."]) == []
    assert grounding.missing_entities("What does Zentravir target?", ["Tofersen lowers SOD1 protein."]) == ["Zentravir"]


@pytest.mark.parametrize("question,shape", [
    ("When did the FDA approve edaravone?", "date"),
    ("In what year was SOD1 linked to ALS?", "date"),
    ("How many people live with ALS in the United States?", "number"),
    ("What percentage of ALS is familial?", "number"),
    ("Which genes are most often mutated in familial ALS?", "list"),
    ("How does riluzole work?", ""),
])
def test_answer_shape(question, shape):
    assert grounding.answer_shape(question) == shape


PASSAGES = [
    "Edaravone is a free radical scavenger. The FDA approved edaravone for ALS in May 2017. "
    "Edaravone is given by intravenous infusion in cycles.",
    "An oral suspension of edaravone was approved in 2022. Edaravone was first used for stroke in Japan. "
    "Riluzole was approved in 1995.",
]


def test_selection_prefers_the_asked_shape_and_fits_the_budget():
    chosen = grounding.select_sentences("When did the FDA approve edaravone?", PASSAGES, 40, words)
    assert chosen[0].text == "The FDA approved edaravone for ALS in May 2017."
    assert sum(words(f"{s.text} [{s.source}]") + 1 for s in chosen) <= 40
    assert {s.source for s in chosen} == {1, 2}  # across passages, not only the first
    small = grounding.select_sentences("When did the FDA approve edaravone?", PASSAGES, 12, words)
    assert [s.text for s in small] == ["The FDA approved edaravone for ALS in May 2017."]
    assert grounding.select_sentences("When did the FDA approve edaravone?", PASSAGES, 3, words) == []


def test_room_left_takes_the_start_of_the_next_sentence_marked_as_cut():
    passages = ["Tofersen lowers SOD1 protein in the spinal fluid of people with SOD1 ALS. "
                "Tofersen is an antisense oligonucleotide given by lumbar puncture every 28 days after three loading doses "
                "spaced two weeks apart, with monitoring for myelitis and raised intracranial pressure."]
    q = "What is tofersen and how does it lower SOD1?"
    full = grounding.select_sentences(q, passages, 40, words, fill=False)
    cut = grounding.select_sentences(q, passages, 40, words)
    assert len(cut) == len(full) + 1 and cut[-1].text.endswith(" …")
    assert passages[0].find(cut[-1].text[:-2]) >= 0  # the quoted words as they stand, in order
    assert sum(words(f"{s.text} [{s.source}]") + 1 for s in cut) <= 40
    # too little room: no fragment
    assert len(grounding.select_sentences(q, passages, 20, words)) == len(grounding.select_sentences(q, passages, 20, words, fill=False))


def test_selection_skips_near_repeats_and_unrelated_sentences():
    passages = ["Tofersen lowers SOD1 protein in the spinal fluid.", "Tofersen lowers the SOD1 protein in spinal fluid.",
                "Physical therapy keeps joints mobile for longer."]
    chosen = grounding.select_sentences("What does tofersen lower?", passages, 100, words)
    assert len(chosen) == 1 and chosen[0].source == 1
    answer = grounding.composed_answer(chosen)
    assert answer == "Tofersen lowers SOD1 protein in the spinal fluid. [1]"


def test_similarity_scores_change_the_order():
    passages = ["Cramps are common in ALS. Muscle cramps respond to mexiletine."]
    plain = grounding.select_sentences("What helps muscle cramps?", passages, 100, words)
    assert plain[0].text.startswith("Muscle cramps")
    boosted = grounding.select_sentences("What helps muscle cramps?", passages, 100, words,
                                 similarity=lambda texts: [5.0 if t.startswith("Cramps") else 0.0 for t in texts])
    assert boosted[0].text.startswith("Cramps are common")


def test_an_alias_in_a_passage_counts_as_the_name_once():
    from alslm_ml.rag.expand import synonyms_in

    syn = synonyms_in("What kind of drug is edaravone?")
    assert "Radicava" in syn["edaravone"]
    passages = ["Radicava ORS is taken in the morning after an overnight fast.",
                "Edaravone is a free radical scavenger, a kind of drug that may reduce oxidative stress."]
    ranked = grounding.rank_sentences("What kind of drug is edaravone?", passages, syn)
    assert ranked[0].source == 2  # the brand name alone does not outrank the asked-for content
    assert ranked[1].score > 0.5  # ... but it still counts as edaravone
    assert grounding.rank_sentences("What kind of drug is edaravone?", passages)[1].score < 0.1


def test_sentences_a_lead_already_says_are_not_quoted_again():
    q = "When did the FDA approve edaravone?"
    lead = "The FDA approved edaravone for ALS in May 2017."
    chosen = grounding.select_sentences(q, PASSAGES, 60, words, already=lead)
    assert chosen and all(s.text != lead for s in chosen)


@pytest.mark.parametrize("question,premise", [
    ("Since Zolgensma is approved for ALS, what dose is used?", "Zolgensma is approved for ALS"),
    ("Why was the trial that showed lithium cures ALS stopped?", "the trial that showed lithium cures ALS stopped"),
    ("When did the FDA approve edaravone?", "the FDA approve edaravone"),
    ("What does tofersen target?", None),
])
def test_premise_of_a_question(question, premise):
    assert grounding.premise_of(question) == premise


def test_a_premise_no_passage_states_is_named_before_the_quotes():
    passages = ["Lithium carbonate was tested in ALS after a small study; larger trials found no benefit.",
                "The FDA approved edaravone for ALS in May 2017."]
    premise = grounding.unsupported_premise("Why was the trial that showed lithium cures ALS stopped?", passages)
    assert premise == "the trial that showed lithium cures ALS stopped"
    assert grounding.premise_note(premise).startswith("The retrieved sources do not say that the trial")
    from alslm_ml.eval.scoring import is_refusal

    assert is_refusal(grounding.premise_note(premise))  # the evaluation reads it as denying the premise
    assert grounding.unsupported_premise("When did the FDA approve edaravone?", passages) is None
    assert grounding.unsupported_premise("What does tofersen target?", passages) is None
    # an alias in the passage supports a premise stated with the other name
    assert grounding.unsupported_premise("When did the FDA approve Radicava?", passages, {"Radicava": ["edaravone"]}) is None


def test_premise_supported_across_two_sentences_and_an_agency_alias():
    from alslm_ml.rag.expand import synonyms_in

    q = "When did the FDA approve riluzole?"
    passages = ["Riluzole was the first drug approved for ALS. The US Food and Drug Administration approved it in 1995."]
    assert grounding.unsupported_premise(q, passages, synonyms_in(q)) is None


def test_a_premise_the_passages_negate_or_never_word_is_unsupported():
    passages = ["Masitinib was tested in a phase 3 trial. Masitinib has not been approved for ALS by the FDA or the EMA.",
                "Riluzole was approved by the US FDA in December 1995. It is taken twice a day."]
    # the only passage holding the premise's words negates it
    assert grounding.unsupported_premise("Since the FDA approved masitinib for ALS, what dose is used?", passages) \
        == "the FDA approved masitinib for ALS"
    # an event no passage names at all ("lose"), though every other word is there
    assert grounding.unsupported_premise("Which year did riluzole lose its FDA approval?", passages) \
        == "riluzole lose its FDA approval"
    # a positive statement supports it; hyphenated words and light verbs are no obstacle
    assert grounding.unsupported_premise("When did the FDA approve riluzole?", passages) is None
    assert grounding.unsupported_premise("When did riluzole become FDA-approved?", passages) is None
    assert grounding.premise_of("What year was riluzole approved?") == "riluzole approved"


def test_a_form_of_a_drug_the_passages_never_name_with_it():
    passages = ["Tofersen is given by intrathecal injection. A 100 mg dose lowered SOD1 protein.",
                "Edaravone is available as an oral suspension and as an intravenous infusion."]
    assert grounding.unsupported_modifier("What is the dose of oral tofersen?", passages) == "oral tofersen"
    assert grounding.unsupported_modifier("What is the dose of intrathecal tofersen?", passages) is None
    assert grounding.unsupported_modifier("What is the dose of oral edaravone?", passages) is None
    assert grounding.unsupported_modifier("What did the first four tofersen trials show?", passages) is None  # a numeral
    from alslm_ml.eval.scoring import is_refusal

    assert is_refusal(grounding.modifier_note("oral tofersen"))


def test_a_cited_answer_over_the_limit_keeps_whole_sentences_and_citations():
    from alslm_ml.rag.retriever import RetrievalSettings
    from alslm_ml.rag.system import RagSystem

    class Words:
        n_ctx = 2048

        def count_tokens(self, text):
            return len(text.split())

        def truncate(self, text, n):
            return " ".join(text.split()[:n])

    rag = RagSystem.__new__(RagSystem)
    rag.gen, rag.settings = Words(), RetrievalSettings()
    text = "Tofersen lowers SOD1 protein in spinal fluid. [1] It was approved in April 2023 in the US. [2]"
    assert rag._fit(text, 50) == text
    assert rag._fit(text, 10) == "Tofersen lowers SOD1 protein in spinal fluid. [1]"
    assert rag._fit(text, 5) == "Tofersen lowers SOD1 [1]"


# Claims and figures a question states outside an opening premise (issue 13). The passages are
# sentences of the starter corpus.
GOLD_COAST = ["Under the Gold Coast criteria, ALS can be diagnosed when there is progressive motor impairment with "
              "upper and lower motor neuron dysfunction in at least one body region, or lower motor neuron dysfunction "
              "in at least two regions, with other diseases excluded. The four body regions are the same as in earlier "
              "criteria: bulbar, cervical, thoracic and lumbosacral."]
GUIDELINES = ["Three clinical guidelines are cited more than any others in amyotrophic lateral sclerosis (ALS) care: the "
              "American Academy of Neurology (AAN) practice parameter update of 2009, the European Federation of "
              "Neurological Societies (EFNS) guideline of 2012 and the UK National Institute for Health and Care "
              "Excellence (NICE) guideline NG42 of 2016."]
TDP_FUS = ["In 2008 mutations in TARDBP, the gene encoding TDP-43, were reported in familial and sporadic ALS. In 2009 two "
           "groups reported in Science that mutations in FUS (fused in sarcoma), another RNA-binding protein, caused "
           "familial ALS.", "TDP-43 is encoded by the TARDBP gene."]


@pytest.mark.parametrize("question,claims", [
    ("Given that half of ALS cases are familial, which genes explain them?", ["half of ALS cases are familial"]),
    ("Which phase 3 trial showed that edaravone reverses ALS?", ["edaravone reverses ALS"]),
    ("What explains the ALS incidence of 50 per 100,000?", ["the ALS incidence of 50 per 100,000"]),
    ("How does TDP-43, the protein encoded by the FUS gene, aggregate?", ["TDP-43 is the protein encoded by the FUS gene"]),
    ("In ALS, the most common gene is which?", []),  # "ALS" is no key entity: no appositive claim
    ("What does tofersen target?", []),
])
def test_claims_stated_outside_an_opening_premise(question, claims):
    assert grounding.claims_of(question) == claims


def test_a_claim_is_supported_only_by_a_sentence_naming_all_its_entities():
    # every word of the claim is in the first passage, but TDP-43 and FUS are in different sentences
    q = "How does TDP-43, the protein encoded by the FUS gene, form aggregates?"
    assert grounding.unsupported_claim(q, TDP_FUS) == "TDP-43 is the protein encoded by the FUS gene"
    assert grounding.unsupported_claim("How does TDP-43, the protein encoded by the TARDBP gene, form aggregates?",
                                       TDP_FUS) is None
    # a "showed that" claim whose verb no passage uses
    edaravone = ["The approval rested largely on a single 24-week Japanese randomized trial, known as MCI186-19, in "
                 "whom edaravone slowed the decline in the ALSFRS-R functional rating scale."]
    assert grounding.unsupported_claim("Which trial showed that edaravone reverses ALS and restores muscle strength?",
                                       edaravone) == "edaravone reverses ALS and restores muscle strength"
    assert grounding.unsupported_claim("Which trial showed that edaravone slowed the decline in the ALSFRS-R?",
                                       edaravone) is None
    # the opening premise keeps its own check, now with the same entity rule
    assert grounding.unsupported_premise("Why is TDP-43 encoded by the FUS gene?", TDP_FUS) == "TDP-43 encoded by the FUS gene"
    assert grounding.unsupported_premise("Why is TDP-43 encoded by the TARDBP gene?", TDP_FUS) is None


def test_a_figure_the_passages_do_not_give_with_what_it_counts():
    q = "Why do the Gold Coast criteria require upper motor neuron signs in four body regions?"
    # "four body regions" is in the passage, but not as signs required in four regions
    assert grounding.unsupported_figure(q, GOLD_COAST) == "four body regions"
    assert grounding.unsupported_figure("Why do the Gold Coast criteria accept lower motor neuron dysfunction in two "
                                        "regions?", GOLD_COAST) is None
    # a year the passages give for another guideline of the same body
    assert grounding.unsupported_figure("What does the 2019 AAN guideline say about exercise?", GUIDELINES) \
        == "2019 AAN guideline"
    assert grounding.unsupported_figure("What does the 2009 AAN practice parameter say about exercise?", GUIDELINES) is None
    incidence = ["Their estimated incidence of ALS in the Netherlands was about 2.8 per 100,000 person-years, with a "
                 "peak in incidence at around 70 to 75 years of age."]
    assert grounding.unsupported_figure("What explains an ALS incidence of 50 per 100,000 person-years?", incidence) \
        == "50 per 100,000 person-years"
    assert grounding.unsupported_figure("What explains an ALS incidence of 2.8 per 100,000 person-years?", incidence) is None
    # "which two ...": the figure is the count the question asks for, not a claim
    assert grounding.unsupported_figure("Which two guidelines followed the AAN one?", GUIDELINES) is None
    from alslm_ml.eval.scoring import is_refusal

    assert is_refusal(grounding.modifier_note("four body regions"))


def test_a_stage_or_type_letter_the_passages_never_name():
    passages = ["People with VCP mutations have TDP-43 pathology: in the brain, they show the distinctive FTLD-TDP type D "
                "pattern with lentiform intranuclear inclusions."]
    assert grounding.unsupported_figure("How do VCP mutations cause the FTLD-TDP type D pattern?", passages) is None
    assert grounding.unsupported_figure("How do VCP mutations cause the FTLD-TDP type B pattern?", passages) == "type B"
    assert grounding.unsupported_figure("How are people with VCP mutations assigned to stages A through F?",
                                        passages) == "stages A through F"


def test_a_quoted_name_the_passages_never_use():
    passages = ["The split-hand sign is a pattern of muscle wasting in the hand that is characteristic of ALS."]
    assert grounding.unquoted_name("What does the 'split hand sign' show?", passages) is None  # hyphen-insensitive
    assert grounding.unquoted_name("What does the “split-elbow sign” show in ALS?", passages) == "split-elbow sign"
    assert grounding.unquoted_name("Why is ALS called Lou Gehrig's disease in the US?", passages) is None  # an apostrophe


TDP_PLACE = ["If TDP-43 is trapped in cytoplasmic aggregates, the nucleus senses too little TDP-43.",
             "Research models built around mutant TDP-43 are used to study the consequences of both its aggregation in "
             "the cytoplasm and its loss from the nucleus.",
             "The combination of nuclear clearing and cytoplasmic aggregation suggests two possible routes to harm: loss "
             "of TDP-43's normal nuclear functions and a toxic gain of function from the aggregates.",
             "In 2011 Lee, Lee and Trojanowski reviewed the evidence for toxic gain of function from aggregates and loss "
             "of nuclear function, and concluded that both probably contribute."]


def test_a_contrast_the_passages_reverse():
    q = "How does TDP-43 aggregating inside the nucleus, rather than the cytoplasm, drive sporadic ALS?"
    assert grounding.contradicted_contrast(q, TDP_PLACE) == "TDP-43 aggregating inside the nucleus rather than the cytoplasm"
    # the contrast the passages make
    assert grounding.contradicted_contrast(
        "How does TDP-43 aggregating in the cytoplasm, rather than the nucleus, drive sporadic ALS?", TDP_PLACE) is None
    # one sentence pairing the event with B is not enough, nor B winning narrowly (the last
    # sentence pairs "aggregates" with "nuclear" by proximity)
    assert grounding.contradicted_contrast(q, TDP_PLACE[:1]) is None
    assert grounding.contradicted_contrast(q, TDP_PLACE[:1] + TDP_PLACE[2:]) is None
    assert grounding.contradicted_contrast("What share of ALS cases are familial rather than sporadic?", TDP_PLACE) is None


def test_over_refusal_guards_of_the_figure_and_claim_checks():
    gehrig = ["The Pride of the Yankees, released in 1942, a year after Lou Gehrig's death, starred Gary Cooper as Gehrig "
              "and recreated his July 1939 farewell speech at Yankee Stadium."]
    # "say" is the question's verb, not what 1939 dates; "in 1939" attaches it to what precedes
    assert grounding.unsupported_figure("What did Lou Gehrig say in his 1939 farewell speech?", gehrig) is None
    assert grounding.unsupported_figure("Why was Lou Gehrig's farewell speech given in 1941?", gehrig) == "1941"
    aan = ["The AAN 2009 parameter gave level B recommendations for gastrostomy to stabilise weight."]
    # word order around a year varies: two of the three words after it are enough
    assert grounding.unsupported_figure("What does the 2009 AAN practice parameter recommend?", aan) is None
    # the denied side of a contrast is no part of the claim
    assert grounding.unsupported_premise("Why does TDP-43 aggregate in the cytoplasm rather than the nucleus?",
                                         ["If TDP-43 is trapped in cytoplasmic aggregates, the protein cannot work."]) is None


# ---- issue 13, part 2: fewer refusal notes on true questions (premise_probe.json TUNE half) ----

def test_a_figure_counts_nothing_past_the_end_of_its_clause():
    centaur = ["The CENTAUR trial of sodium phenylbutyrate-taurursodiol, published in 2020, was conducted at NEALS sites."]
    # "published in 2020, report": the year dates the publication, not the question's verb
    assert grounding.unsupported_figure("What did the CENTAUR trial, published in 2020, report?", centaur) is None
    assert grounding.unsupported_figure("What did the CENTAUR trial, published in 2018, report?", centaur) == "2018"
    # a figure at the end of its clause goes with what precedes it
    fvc = ["Thresholds include a forced vital capacity below 50 percent of predicted or nocturnal desaturation."]
    q = "Why is non-invasive ventilation offered when forced vital capacity falls below 50%?"
    assert grounding.unsupported_figure(q, fvc) is None
    assert grounding.unsupported_figure(q, ["In the trial 50 patients received NIV at home."]) == "50"
    risk = ["The lifetime risk of ALS is usually quoted as roughly 1 in 300 to 1 in 400 people."]
    assert grounding.unsupported_figure("Why is the lifetime risk of ALS, about 1 in 400, so high?", risk) is None
    assert grounding.unsupported_figure("Why is the lifetime risk of ALS, about 1 in 40, so high?", risk) == "40"


def test_a_hedged_round_figure_and_a_figure_with_its_noun():
    c9 = ["In populations of European descent, the expansion was present in about 37 percent of people with familial "
          "ALS and about 6 percent of people with sporadic ALS. In FTD it was found in a quarter of familial cases."]
    q = "About {} of familial ALS cases carry a C9orf72 expansion; how common is it in sporadic ALS?"
    names = {"C9orf72": []}
    c9 = [p + " C9orf72" for p in c9]
    assert grounding.unsupported_figure(q.format("40%"), c9, names) is None  # about 40% ~ 37 percent
    assert grounding.unsupported_figure(q.format("60%"), c9, names) == "60% of familial ALS cases"
    assert grounding.unsupported_figure(q.replace("About ", "").format("40%"), c9, names) == "40% of familial ALS cases"
    assert not grounding._same_figure("10", "5", True) and grounding._same_figure("400", "380", True)
    assert not grounding._same_figure("8", "7", True) and grounding._same_figure("15", "14", True)
    assert not grounding._same_figure("100", "60", True) and not grounding._same_figure("2010", "2006", True)
    assert not grounding._same_figure("40", "37", False)  # not hedged: exact
    sod1 = ["SOD1 was the first ALS gene found. Its enzyme binds copper and zinc ions. The protein is small and "
            "stable. More than 150 different mutations have been described, most of them single amino acid changes."]
    q = "Since more than 150 mutations in SOD1 have been reported, which one is most common?"
    assert grounding.unsupported_figure(q, sod1) is None  # "150 different mutations"
    assert grounding.unsupported_figure(q.replace("mutations", "deletions"), sod1) == "150 deletions in SOD1"


def test_a_passage_figure_written_as_a_range_percent_or_fraction():
    assert grounding.unsupported_figure("Why are about 10% of ALS cases familial?",
                                        ["Familial ALS makes up 5-10% of all cases."]) is None
    assert grounding.unsupported_figure("Why are 10 percent of ALS cases familial?",
                                        ["Familial ALS makes up 10 per cent of cases."]) is None
    assert grounding.unsupported_figure("Why are about 30% of familial cases due to C9orf72?",
                                        ["C9orf72 explains about a third of familial cases."]) is None
    # "one in ten" is the figure ten, not ten attached to "one"
    assert grounding.unsupported_figure("Why do about one in ten ALS cases run in families?",
                                        ["About 10% of ALS cases are familial."]) is None
    assert grounding.unsupported_figure("Why do about one in five ALS cases run in families?",
                                        ["About 10% of ALS cases are familial."]) == "five ALS cases run"
    # an ordinal is no fraction, and the range's ends are the only figures it gives
    assert grounding.unsupported_figure("Why are about 30% of familial cases due to C9orf72?",
                                        ["C9orf72 is the third gene of familial cases."]) == "30% of familial cases"
    assert grounding.unsupported_figure("Why are 7% of ALS cases familial?",
                                        ["Familial ALS makes up 5-10% of all cases."]) == "7% of ALS cases familial"


MDT = ["Population-based studies from Ireland found that attendance at multidisciplinary ALS clinics was associated "
       "with longer survival.",
       "FUS was identified as a cause of familial ALS in 2009 by two groups publishing in Science.",
       "In 2008 a small study reported that lithium slowed ALS, prompting rapid trials that were negative.",
       "There is no single test that proves a diagnosis of ALS."]


def test_a_claim_worded_otherwise_by_the_passages():
    # a passage word of the same or stronger meaning holds the claim's word
    assert grounding.unsupported_claim("Which study found that multidisciplinary clinic care prolongs survival?",
                                       [MDT[0] + " Care in clinics matters."]) is None
    assert grounding.unsupported_premise("When was FUS first linked to familial ALS?", MDT) is None
    # never an antonym, and never a weaker word for a stronger one
    assert grounding.unsupported_claim("Which study found that multidisciplinary clinic care shortens survival?",
                                       [MDT[0] + " Care in clinics matters."]) is not None
    assert grounding.unsupported_premise("Why does lithium cause ALS?",
                                         ["Lithium use was linked to ALS in one small study."]) is not None
    # "diagnostic" ~ "diagnosis"; the claim's own negation agrees with the passage's
    assert grounding.unsupported_premise("Since ALS has no single diagnostic test, how is it diagnosed?", MDT) is None
    assert grounding.unsupported_premise("Since ALS has a single diagnostic test, which is it?", MDT) is not None


def test_a_claim_with_an_aside_is_two_claims():
    q = "Why did lithium, reported in 2008 to slow ALS, fail in later trials?"
    assert grounding.unsupported_premise(q, MDT) is None  # "negative" trials failed; "later" places it in time
    # each part must hold: the year of the aside, and the event of the rest
    assert grounding.unsupported_premise(q.replace("2008", "2015"), MDT) is not None
    assert grounding.unsupported_premise(q.replace("fail", "succeed"), MDT) is not None
    assert grounding._without_aside("TDP-43, the protein encoded by FUS, aggregates") == [
        "TDP-43 aggregates", "TDP-43 the protein encoded by FUS"]


def test_premise_ends_at_a_semicolon_and_a_since_of_time_is_no_premise():
    assert grounding.premise_of("Since the 1950s researchers have studied ALS on Guam; which toxin was proposed?") is None
    assert grounding.premise_of("Since 1993, when SOD1 was found, how many genes were found?") is None
    assert grounding.premise_of("Since then, what changed?") is None
    assert grounding.premise_of("Since riluzole slows ALS; what else does?") == "riluzole slows ALS"
    assert grounding.premise_of("Why is riluzole approved; and where?") == "riluzole approved"
    # the year of a "since" is still read by the figure check
    assert grounding.unsupported_figure("Since 1993, when SOD1 mutations were found, what changed?",
                                        ["SOD1 mutations were found in 1993 by Rosen and colleagues."]) is None
    assert grounding.unsupported_figure("Since 1996, when SOD1 mutations were found, what changed?",
                                        ["SOD1 mutations were found in 1993 by Rosen and colleagues."]) is not None


def test_a_numbered_label_and_generic_counted_words():
    phoenix = ["PHOENIX was a randomized, placebo-controlled phase 3 trial of AMX0035 lasting 48 weeks.",
               "A multi-stage phase 1, 2 and 3 trial of ceftriaxone enrolled 513 people."]
    # "phase 3" is the label's number, whatever words follow it ("study" / "trial")
    assert grounding.unsupported_figure("The PHOENIX trial, a phase 3 study of AMX0035, found what?", phoenix) is None
    assert grounding.unsupported_figure("The PHOENIX trial, a phase 2 study of AMX0035, found what?", phoenix) == "phase 2"
    assert grounding.unsupported_figure("Was ceftriaxone effective in its phase 3 trial?", phoenix) is None
    assert grounding.unsupported_figure("The PHOENIX trial, a phase III study of AMX0035, found what?", phoenix) is None
    assert grounding.unsupported_figure("How does SOD1 on chromosome 21 cause ALS?", ["SOD1 lies on chromosome 21q22."]) is None
    assert grounding.unsupported_figure("How does SOD1 on chromosome 2 cause ALS?", ["SOD1 lies on chromosome 21q22."]) \
        == "chromosome 2"
    # "cases", "people", "patients", "individuals" stand for one another after a figure
    tdp = ["TDP-43 aggregates in the inclusions of about 97 percent of people with ALS."]
    assert grounding.unsupported_figure("What does TDP-43, in the inclusions of about 97% of ALS cases, do?", tdp) is None
    assert grounding.unsupported_figure("What does TDP-43, in the inclusions of about 97% of ALS cases, do?",
                                        ["TDP-43 aggregates in the inclusions of about 97 percent of the time."]) is not None
    # "came next, in 2017": "next" is no word the passage must repeat
    ed = ["Riluzole was approved in 1995. Edaravone, a free-radical scavenger, was the second drug approved, in 2017."]
    assert grounding.unsupported_figure("Riluzole was the first drug; which drug came next, in 2017?", ed) is None
    assert grounding.unsupported_figure("Riluzole was the first drug; which drug came next, in 2012?", ed) == "2012"


def test_sentence_scores_do_not_depend_on_the_string_hash_seed():
    """A sentence's score sums the weights of the question terms it holds; summed in set order
    (which follows PYTHONHASHSEED) the floats differed in the last bit between processes, and
    near-ties made the same question quote other sentences from one run to the next."""
    import os
    import subprocess
    import sys

    code = (
        "from alslm_ml.rag import grounding\n"
        "q = 'Which motor neuron protein aggregates spread through axonal transport, glial inflammation "
        "and stress granules in familial cases?'\n"
        "ps = ['Motor neuron protein aggregates are found in familial cases.',"
        " 'Axonal transport defects and stress granules occur in motor neuron disease; glial inflammation follows.',"
        " 'Protein aggregates spread between cells. Familial cases carry mutations.',"
        " 'Stress granules form under stress; glial cells respond with inflammation.',"
        " 'Axonal transport moves protein along the axon. Motor neuron loss spreads.']\n"
        "print([repr(s.score) for s in grounding.rank_sentences(q, ps)])\n"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in range(10)
    }
    assert len(outputs) == 1, outputs

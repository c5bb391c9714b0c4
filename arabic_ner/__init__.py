"""Fine-tune Arabic transformer encoders on custom named-entity tag sets.

Layers, each importing only from those above it (tests/test_layers.py):

    base   errors, messages, files, config, progress   one-line errors and stops; outputs whole; settings
    text   normalize, words, labels, sentences         raw text -> words (raw offsets kept) and IOB2 tags
    data   textfiles, corpus, conll, convert, ...       annotated records and articles in and out, checked;
           metrics                                      metrics.score_model: the one scoring of a model
    model  model, windows, inference, predictor, ...    words -> subword windows -> tags -> char spans
    run    checkpoint, run_folder, training, ...        fine-tuning (scores dev each epoch), saving, resuming;
           tagging, ray_predict, selftrain, serve       a corpus tagged in resumable chunks and shards; on Ray
    score  evaluation, analysis, report, crossval, ...  a model's scores, errors and report; recipes compared
    cli    cli/                                         the commands: parse options, call the above, print

A text through `predict.py`: articles.Articles.read -> tagging.tag_chunks -> Predictor.predict_iter
-> sentences.split_sentences / to_sentence -> windows.WindowEncoder -> inference.window_probs and
word_tags_of -> labels.entities_from_tags -> one JSON line per article.
"""

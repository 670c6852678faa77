#!/bin/sh
# scripts/prompt_session.sh [OUT] -- the README's prompt session, replayed:
# ./nnlua in an 80-column tmux pane (Debian's tmux), typed line by line as a
# learner would, Ctrl-C pressed 6 s into the training, and the pane's whole
# text written to OUT (default: prompt_session.txt).  NO_COLOR=1, so that
# t:show() draws with shade characters that survive as plain text.
# Needs data/fashion-mnist (scripts/prepare_data.sh) and a built ./nnlua.
set -e
OUT=${1:-prompt_session.txt}
S=nnlua-session-$$
tmux new-session -d -s "$S" -x 80 -y 50 "NO_COLOR=1 NNLUA_HISTORY= ./nnlua"
trap 'tmux kill-session -t "$S" 2>/dev/null || true' EXIT
tmux set-option -t "$S" history-limit 5000 > /dev/null
sleep 1
type_line() { tmux send-keys -t "$S" -l "$1"; tmux send-keys -t "$S" Enter; sleep "${2:-1}"; }
type_line "data = nn.datasets.fashion_mnist{}" 4
type_line "x_train, y_train = data.x_train, data.y_train"
type_line "model = nn.Model{nn.Dense(784, 256, {activation='relu'}), nn.Dense(256, 10)}"
type_line "opt = nn.optim.SGD{lr = 0.01, momentum = 0.9}"
type_line "model:set{loss = 'cross_entropy', optimizer = opt, accuracy = true}"
type_line "history = model:train(x_train, y_train, {epochs=50, validation_split=0.1})" 6
tmux send-keys -t "$S" C-c; sleep 2
type_line "model:inspect()" 2
type_line "model.layers[1].grad_weight:hist()" 2
type_line "x_train[1]:view(28, 28):show()" 2
type_line "nn.plot(history)" 2
type_line "help(nn.Linear)" 2
tmux capture-pane -t "$S" -p -S -3000 > "$OUT"
